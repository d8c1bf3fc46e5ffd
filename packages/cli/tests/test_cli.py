"""The ``cosmo`` commands that need no running synapse: version, help, usage errors,
plugin mounting and the Prism hand-over."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cosmonapse_cli import __version__
from cosmonapse_cli.main import app
from cosmonapse_cli.plugins import load_prism
from typer.testing import CliRunner

runner = CliRunner()

COSMO = str(Path(sys.executable).with_name("cosmo"))


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cosmo {__version__}"


@pytest.mark.parametrize(
    "command",
    [
        *([], ["synapse"], ["synapse", "start"], ["synapse", "view"], ["doppler"]),
        *(["dispatch"], ["record"], ["replay"], ["trace"], ["prism"]),
    ],
    ids=lambda c: " ".join(c) or "cosmo",
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example: cosmo " in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--neuron", "a", "--capabilities", "b"], "exactly one of --neuron"),
        ([], "exactly one of --neuron"),
        (["--neuron", "a", "--input", "{nope"], "not JSON"),
        (["--neuron", "a", "--input", "[1]"], "must be a JSON object"),
        (["--capabilities", " , ", "--input", "{}"], "at least one capability"),
    ],
)
def test_dispatch_usage_errors(args: list[str], message: str) -> None:
    argv = ["dispatch", "-n", "ns", *args]
    if "--input" not in args:
        argv += ["--input", "{}"]
    result = runner.invoke(app, argv, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert message in result.output


def test_dispatch_refuses_an_in_process_url_at_once() -> None:
    # No agent in another process can answer on memory://: waiting would only time out.
    result = runner.invoke(
        app, ["dispatch", "--url", "memory://", "-n", "ns", "--neuron", "a", "--input", "{}"]
    )
    assert result.exit_code == 1
    assert "in-process bus" in result.output and "cosmo synapse start memory" in result.output


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_synapse_start_rejects_a_port_out_of_range(port: str) -> None:
    result = runner.invoke(
        app, ["synapse", "start", "memory", "--port", port], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("flag", [["--port", "5000"], ["--host", "0.0.0.0"]])
def test_synapse_start_nats_refuses_the_dev_synapse_address_flags(flag: list[str]) -> None:
    # They would be silently ignored: the NATS address comes from --broker.
    result = runner.invoke(app, ["synapse", "start", "nats", *flag], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "for nats give --broker nats://HOST:PORT" in result.output


def test_doppler_rejects_unknown_types() -> None:
    result = runner.invoke(app, ["doppler", "--type", "TASK,NOPE"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "unknown Signal type 'NOPE'" in result.output


def test_synapse_start_rejects_a_bad_namespace() -> None:
    result = runner.invoke(
        app, ["synapse", "start", "memory", "--namespace", "a.b"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "must not contain '.'" in result.output


def test_view_needs_a_dev_synapse_or_nats_url() -> None:
    result = runner.invoke(app, ["synapse", "view", "--url", "memory://"])
    assert result.exit_code == 1
    assert "give a cosmo:// or nats:// URL, not memory://" in result.output


def test_view_of_a_nats_url_with_no_server_says_so() -> None:
    # A nats:// URL shows JetStream state; with nothing listening the error names the URL.
    result = runner.invoke(app, ["synapse", "view", "--url", "nats://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "no NATS server answered at nats://127.0.0.1:9" in result.output


def test_prism_lookup_reports_absence() -> None:
    assert load_prism(group="cosmonapse.cli.test-nothing-here") is None


def test_doppler_prism_without_prism_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prism is installed in this environment; look it up in an empty group instead.
    import cosmonapse_cli.commands.doppler as doppler_command

    monkeypatch.setattr(
        doppler_command, "load_prism", lambda: load_prism("cosmonapse.cli.test-nothing-here")
    )
    result = runner.invoke(app, ["doppler", "--prism", "-n", "ns"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        'Prism is not installed; add it with: pip install -e "packages/prism" (from a checkout '
        'of this repository; or pip install "cosmonapse-prism")'
    ]


PLUGIN = textwrap.dedent(
    '''
    import typer

    def hello(name: str = "world") -> None:
        """Say hello."""
        print(f"hello {name}")

    greet = typer.Typer(help="Greetings.")

    @greet.command()
    def twice(name: str) -> None:
        print(f"hi {name}, hi {name}")
    '''
)
ENTRY_POINTS = textwrap.dedent(
    """
    [cosmonapse.cli]
    hello = cosmo_demo_plugin:hello
    greet = cosmo_demo_plugin:greet
    broken = cosmo_demo_plugin_is_missing:command
    doppler = cosmo_demo_plugin:hello
    """
)


@pytest.fixture
def plugin_path(tmp_path: Path) -> dict[str, str]:
    """A real installed-looking distribution on PYTHONPATH declaring four commands."""
    (tmp_path / "cosmo_demo_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "cosmo_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cosmo-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env


def _cosmo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COSMO, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_plugins_are_mounted_as_commands(plugin_path: dict[str, str]) -> None:
    listing = _cosmo(plugin_path, "--help")
    assert listing.returncode == 0, listing.stderr
    for name in ("hello", "greet", "broken"):
        assert name in listing.stdout

    hello = _cosmo(plugin_path, "hello", "--name", "bus")
    assert (hello.returncode, hello.stdout) == (0, "hello bus\n")
    greet = _cosmo(plugin_path, "greet", "twice", "bus")
    assert (greet.returncode, greet.stdout) == (0, "hi bus, hi bus\n")

    # a plugin that cannot load explains itself and leaves the others working
    broken = _cosmo(plugin_path, "broken", "--anything")
    assert broken.returncode == 1
    assert "cannot load" in broken.stderr and "cosmo_demo_plugin_is_missing" in broken.stderr

    # built-in names are never replaced by a plugin
    doppler = _cosmo(plugin_path, "doppler", "--help")
    assert "Stream every Signal" in doppler.stdout
