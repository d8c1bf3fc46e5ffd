"""Plugin discovery by entry points, and a core that needs no plugin.

"Not installed" is simulated for real: a subprocess runs the SDK from its source tree
with no site-packages, so no plugin distribution is discoverable and nats-py cannot be
imported. Registering a plugin is real too: a tiny distribution (a ``.dist-info`` with
an ``entry_points.txt``) is put on ``sys.path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import orjson
import pytest
from cosmonapse import (
    Engram,
    EngramError,
    InMemoryEngram,
    MemorySynapse,
    Neuron,
    PluginError,
    PluginNotInstalledError,
    UnknownPluginError,
    _plugins,
    connect_synapse,
    installed_plugins,
)

SDK_SRC = Path(__file__).resolve().parents[1] / "src"


def run_python(code: str, *, isolated: Path | None = None, timeout: float = 60) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout (fails on error).

    With ``isolated`` the interpreter gets no site-packages: only the SDK sources and
    the directory ``isolated`` (holding its one dependency) are importable.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    args = [sys.executable]
    if isolated is not None:
        args.append("-S")
        env["PYTHONPATH"] = os.pathsep.join([str(SDK_SRC), str(isolated)])
    proc = subprocess.run(
        [*args, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def bare_env(tmp_path: Path) -> Path:
    """A directory holding only orjson, the SDK's one import-time dependency."""
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "orjson").symlink_to(Path(orjson.__file__).parent, target_is_directory=True)
    return deps


# -- unknown names -----------------------------------------------------------------------


async def test_unknown_scheme_lists_the_installed_ones() -> None:
    with pytest.raises(UnknownPluginError) as info:
        await connect_synapse("bogus://127.0.0.1:1")
    message = str(info.value)
    assert "'bogus'" in message
    for scheme in ("memory", "cosmo", "nats"):
        assert scheme in message
    assert isinstance(info.value, LookupError) and isinstance(info.value, PluginError)


@pytest.mark.parametrize("url", ["", "127.0.0.1:7070", "memory", None])
async def test_not_a_url_is_an_unknown_plugin(url: str) -> None:
    with pytest.raises(UnknownPluginError, match="not a synapse URL"):
        await connect_synapse(url)


def test_unknown_neuron_source_lists_the_installed_sources() -> None:
    with pytest.raises(UnknownPluginError) as info:
        Neuron(source="nope")
    message = str(info.value)
    assert "'nope'" in message and "Neuron source" in message
    for source in _plugins.available(_plugins.NEURONS):
        assert source in message
    assert "installed:" in message


def test_unknown_engram_kind_lists_the_installed_kinds() -> None:
    with pytest.raises(UnknownPluginError, match=r"installed: .*") as info:
        _plugins.load(_plugins.ENGRAMS, "nope")
    for kind in _plugins.available(_plugins.ENGRAMS):
        assert kind in str(info.value)


async def test_memory_scheme_resolves_by_url() -> None:
    synapse = await connect_synapse("memory://")
    try:
        assert isinstance(synapse, MemorySynapse)
    finally:
        await synapse.close()


# -- known but not installed -------------------------------------------------------------


def test_known_plugins_say_how_to_install_them() -> None:
    # Every (group, name) this project publishes has a hint; the isolated runs below
    # check that the hint reaches the user.
    for (group, name), (package, folder) in _plugins._KNOWN.items():
        hint = _plugins.install_hint(group, name)
        # the command that works from a checkout first: these are not on the index
        assert hint == (
            f'pip install -e "{folder}" (from a checkout of this repository; '
            f'or pip install "{package}")'
        )
        assert (Path(__file__).parents[3] / folder.split("[")[0] / "pyproject.toml").is_file()
    assert _plugins.install_hint(_plugins.NEURONS, "nope") is None


def test_missing_plugins_give_the_pip_command(bare_env: Path) -> None:
    out = run_python(
        """
        import asyncio, json
        from cosmonapse import Neuron, PluginNotInstalledError, connect_synapse
        from cosmonapse import _plugins

        results = {}
        for source in ("huggingface", "hf"):
            try:
                Neuron(source=source, model="m")
            except PluginNotInstalledError as exc:
                results[source] = str(exc)
        try:
            _plugins.load(_plugins.ENGRAMS, "vector")
        except PluginNotInstalledError as exc:
            results["vector"] = str(exc)
        try:
            asyncio.run(connect_synapse("nats://127.0.0.1:1"))
        except PluginNotInstalledError as exc:
            results["nats"] = str(exc)
        try:
            import nats  # noqa: F401
            results["nats_importable"] = True
        except ImportError:
            results["nats_importable"] = False
        print(json.dumps(results))
        """,
        isolated=bare_env,
    )
    results = orjson.loads(out)
    assert results["nats_importable"] is False  # the simulation is real
    hf = _plugins.install_hint(_plugins.NEURONS, "hf")
    assert hf is not None and 'pip install -e "packages/neuron-hf"' in hf
    assert results["huggingface"].endswith(hf)
    assert "not installed" in results["huggingface"]
    assert results["hf"].endswith(hf)
    assert results["vector"].endswith(str(_plugins.install_hint(_plugins.ENGRAMS, "vector")))
    # nats is a scheme of the SDK itself whose dependency is missing.
    assert "nats" in results["nats"]
    assert results["nats"].endswith(
        'pip install -e "packages/python-sdk[nats]" (from a '
        'checkout of this repository; or pip install "cosmonapse[nats]")'
    )


def test_isolated_core_still_runs_on_the_memory_synapse(bare_env: Path) -> None:
    out = run_python(
        """
        import asyncio, sys
        from cosmonapse import Axon, Dendrite, connect_synapse

        async def double(input, context):
            return {"n": input["n"] * 2}

        async def main():
            synapse = await connect_synapse("memory://")  # no entry points at all here
            worker = Dendrite(synapse=synapse, namespace="iso", role="worker", heartbeat_s=0)
            worker.attach_axon(Axon(neuron_id="double", neuron_fn=double))
            boss = Dendrite(synapse=synapse, namespace="iso", heartbeat_s=0)
            async with worker, boss:
                reply = await boss.dispatch_and_wait(neuron="double", input={"n": 21},
                                                     timeout_s=10)
            await synapse.close()
            print(reply.payload["output"]["n"])

        asyncio.run(main())
        """,
        isolated=bare_env,
    )
    assert out.strip() == "42"


# -- the core imports without the heavy plugin dependencies ------------------------------


def test_core_imports_and_runs_without_numpy_or_httpx() -> None:
    out = run_python(
        """
        import asyncio, sys

        class Blocker:
            blocked = ("numpy", "httpx")

            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in self.blocked:
                    raise ImportError(f"{name} is blocked for this test", name=name)
                return None

        sys.meta_path.insert(0, Blocker())
        try:
            import numpy  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker does not work")

        import cosmonapse
        from cosmonapse import Axon, Dendrite, MemorySynapse, SignalType

        async def echo(input, context):
            return {"echo": input["text"]}

        async def main():
            synapse = MemorySynapse()
            worker = Dendrite(synapse=synapse, namespace="core", role="worker", heartbeat_s=0)
            worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo, capabilities=["say"]))
            boss = Dendrite(synapse=synapse, namespace="core", heartbeat_s=0)
            async with worker, boss:
                a = await boss.dispatch_and_wait(neuron="echo", input={"text": "a"}, timeout_s=10)
                b = await boss.dispatch_and_wait(capabilities=["say"], input={"text": "b"},
                                                 timeout_s=10)
            await synapse.close()
            return a, b

        a, b = asyncio.run(main())
        assert a.type is SignalType.AGENT_OUTPUT and b.type is SignalType.AGENT_OUTPUT
        print(a.payload["output"]["echo"], b.payload["output"]["echo"])
        print("loaded:", ",".join(m for m in sys.modules if m.split(".")[0] in Blocker.blocked))
        """
    )
    lines = out.splitlines()
    assert lines[0] == "a b"
    assert lines[1].strip() == "loaded:"


# -- a plugin registered by a real distribution ------------------------------------------


@pytest.fixture
def plugin_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install (on sys.path) a distribution offering a Neuron source and a synapse scheme."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "cosmo_test_plugins.py").write_text(
        textwrap.dedent(
            """
        from cosmonapse import MemorySynapse

        def make_neuron(**options):
            async def neuron(input, context):
                return {"options": options, "input": input}
            return neuron

        async def connect(url, **options):
            return MemorySynapse(**options)

        async def connect_wrong(url, **options):
            return "not a synapse"
        """
        )
    )
    info = site / "cosmo_test_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cosmo-test-plugins\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
        [cosmonapse.neurons]
        echo-options = cosmo_test_plugins:make_neuron

        [cosmonapse.synapses]
        loopback = cosmo_test_plugins:connect
        wrongtype = cosmo_test_plugins:connect_wrong
        """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("cosmo_test_plugins", None)


async def test_neuron_factory_gets_the_keyword_options(plugin_distribution: Path) -> None:
    neuron = Neuron(source="echo-options", model="m", max_new_tokens=5)
    assert await neuron({"p": 1}, None) == {
        "options": {"model": "m", "max_new_tokens": 5},
        "input": {"p": 1},
    }
    with pytest.raises(UnknownPluginError, match="echo-options"):
        Neuron(source="nope")


async def test_a_plugin_scheme_resolves_through_its_entry_point(plugin_distribution: Path) -> None:
    synapse = await connect_synapse("loopback://anything", max_pending=3)
    try:
        assert isinstance(synapse, MemorySynapse)
    finally:
        await synapse.close()
    with pytest.raises(TypeError, match="wrongtype"):
        await connect_synapse("wrongtype://x")
    with pytest.raises(UnknownPluginError, match="loopback"):
        await connect_synapse("bogus://x")


def test_plugin_errors_are_import_and_lookup_errors() -> None:
    assert issubclass(PluginNotInstalledError, ImportError)
    assert issubclass(UnknownPluginError, LookupError)


# -- Engrams by kind, and what is installed ----------------------------------------------
# The Engram kinds below come from real distributions installed next to the SDK:
# cosmonapse-engram-vector ("vector") and example 14's cosmonapse-plugin-echo ("kv").

ECHO = "cosmonapse-plugin-echo"
VECTOR = "cosmonapse-engram-vector"


def installed_names(message: str) -> set[str]:
    """The names an UnknownPluginError lists after ``installed:``."""
    listing = message.rpartition("(installed: ")[2].rstrip(")")
    return set(listing.split(", "))


def test_engram_of_kind_builds_the_class_a_distribution_registers() -> None:
    kv = Engram.of_kind("kv", engram_id="notes", journal_ttl_s=5.0)
    assert type(kv).__name__ == "KeyValueEngram"
    assert type(kv).__module__.startswith("cosmonapse_plugin_echo.")
    assert (kv.engram_id, kv.engram_kind, kv.journal_ttl_s) == ("notes", "kv", 5.0)
    kv.imprint(op="upsert", entry={"key": "a", "value": 1})
    assert [hit.id for hit in kv.recall({"key": "a"})] == ["a"]  # the plugin's own rules

    vectors = Engram.of_kind("vector", engram_id="docs", dim=3)
    assert type(vectors).__module__ == "cosmonapse_engram_vector"  # its public module
    vectors.imprint(op="add", entry={"id": "x", "embedding": [1.0, 0.0, 0.0]})
    with pytest.raises(EngramError, match="dim"):  # dim=3 reached the constructor
        vectors.imprint(op="add", entry={"embedding": [1.0, 0.0]})
    # The kind picks the class; the bus name is the class's default unless given.
    assert vectors.engram_kind == "semantic"
    assert Engram.of_kind("vector", engram_id="d", engram_kind="docs").engram_kind == "docs"

    # The SDK's own kind, needing no plugin; on a subclass the result is that subclass.
    assert type(Engram.of_kind("memory", engram_id="scratch")) is InMemoryEngram
    assert type(InMemoryEngram.of_kind("memory", engram_id="scratch")) is InMemoryEngram


def test_engram_of_kind_fails_clearly() -> None:
    with pytest.raises(UnknownPluginError) as info:
        Engram.of_kind("semantic", engram_id="x")  # a bus name, not a registered kind
    message = str(info.value)
    assert message.startswith("unknown Engram kind 'semantic' (installed: ")
    assert {"kv", "memory", "vector"} <= installed_names(message)
    assert installed_names(message) == set(installed_plugins()[_plugins.ENGRAMS])

    with pytest.raises(TypeError, match=r"KeyValueEngram.*not a subclass of InMemoryEngram"):
        InMemoryEngram.of_kind("kv", engram_id="x")
    # The class's own checks run on the options.
    with pytest.raises(ValueError, match="dim must be"):
        Engram.of_kind("vector", engram_id="docs", dim=0)
    with pytest.raises(ValueError, match="engram_id"):
        Engram.of_kind("kv", engram_id="")
    with pytest.raises(TypeError, match="unexpected keyword"):
        Engram.of_kind("memory", engram_id="m", colour="red")


def test_installed_plugins_names_each_distribution() -> None:
    found = installed_plugins()
    assert list(found) == [
        "cosmonapse.synapses",
        "cosmonapse.neurons",
        "cosmonapse.engrams",
        "cosmonapse.cli",
    ]
    expected = {
        ("cosmonapse.synapses", "memory"): "cosmonapse",
        ("cosmonapse.synapses", "cosmo"): "cosmonapse",
        ("cosmonapse.synapses", "nats"): "cosmonapse",
        ("cosmonapse.neurons", "huggingface"): "cosmonapse-neuron-hf",
        ("cosmonapse.neurons", "hf"): "cosmonapse-neuron-hf",
        ("cosmonapse.neurons", "echo"): ECHO,
        ("cosmonapse.engrams", "memory"): "cosmonapse",
        ("cosmonapse.engrams", "vector"): VECTOR,
        ("cosmonapse.engrams", "kv"): ECHO,
        ("cosmonapse.cli", "prism"): "cosmonapse-prism",
    }
    for (group, name), dist in expected.items():
        assert found[group][name] == dist, (group, name)
    for group, names in found.items():
        assert list(names) == sorted(names)
        # Every name importlib.metadata reports is listed, under its own distribution
        # when only one distribution registers it.
        eps = list(entry_points(group=group))
        for ep in eps:
            if [other.name for other in eps].count(ep.name) == 1 and ep.dist is not None:
                assert names[ep.name] == ep.dist.name


def test_installed_plugins_imports_nothing() -> None:
    out = run_python(
        """
        import sys
        from cosmonapse import installed_plugins

        before = set(sys.modules)
        found = installed_plugins()
        new = sorted(m for m in set(sys.modules) - before if not m.startswith("importlib"))
        print(found["cosmonapse.engrams"]["vector"], found["cosmonapse.neurons"]["echo"])
        print(",".join(m for m in new if m.startswith(("cosmonapse", "numpy", "httpx"))))
        """
    )
    lines = out.splitlines()
    assert lines[0] == f"{VECTOR} {ECHO}"
    assert lines[1] == ""


def test_the_sdk_declares_its_own_entry_points_as_the_fallback_does() -> None:
    # _BUILTIN stands in for the SDK's metadata when it runs from a source tree: the two
    # must name the same objects.
    pyproject = tomllib.loads((SDK_SRC.parent / "pyproject.toml").read_text())
    declared = {
        (group, name): value
        for group, names in pyproject["project"]["entry-points"].items()
        for name, value in names.items()
    }
    assert declared == _plugins._BUILTIN


def test_engram_kinds_without_the_plugins_installed(bare_env: Path) -> None:
    out = run_python(
        """
        import json
        from cosmonapse import (
            Engram, InMemoryEngram, PluginNotInstalledError, UnknownPluginError,
            installed_plugins,
        )

        results = {}
        try:
            Engram.of_kind("vector", engram_id="docs", dim=3)
        except PluginNotInstalledError as exc:
            results["vector"] = str(exc)
        try:
            Engram.of_kind("kv", engram_id="notes")
        except UnknownPluginError as exc:
            results["kv"] = str(exc)
        results["memory"] = type(Engram.of_kind("memory", engram_id="m")).__name__
        results["plugins"] = installed_plugins()
        print(json.dumps(results))
        """,
        isolated=bare_env,
    )
    results = orjson.loads(out)
    assert results["vector"] == (
        "Engram kind 'vector' is not installed: pip install -e \"packages/engram-vector\" "
        '(from a checkout of this repository; or pip install "cosmonapse-engram-vector")'
    )
    assert results["kv"] == "unknown Engram kind 'kv' (installed: memory, sqlite)"
    assert results["memory"] == "InMemoryEngram"
    # Without metadata the SDK's own names still resolve, and only they are listed.
    assert results["plugins"] == {
        "cosmonapse.synapses": {
            "cosmo": "cosmonapse",
            "memory": "cosmonapse",
            "nats": "cosmonapse",
            "nats+js": "cosmonapse",
        },
        "cosmonapse.neurons": {},
        "cosmonapse.engrams": {"memory": "cosmonapse", "sqlite": "cosmonapse"},
        "cosmonapse.cli": {},
    }


@pytest.fixture
def engram_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install (on sys.path) a distribution registering three Engram kinds: a subclass of
    InMemoryEngram, a function (not a class) and a class whose module needs a package that
    is not installed."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "cosmo_test_engrams.py").write_text(
        textwrap.dedent(
            """
        from cosmonapse import InMemoryEngram

        class Scratchpad(InMemoryEngram):
            engram_kind = "scratch"

            def __init__(self, engram_id, engram_kind=None, *, label="", **options):
                super().__init__(engram_id, engram_kind, **options)
                self.label = label

        def make_scratchpad(**options):
            return Scratchpad(**options)
        """
        )
    )
    (site / "cosmo_test_engrams_heavy.py").write_text(
        "import cosmo_test_missing_dependency  # noqa: F401\n"
    )
    info = site / "cosmo_test_engrams-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cosmo-test-engrams\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
        [cosmonapse.engrams]
        scratchpad = cosmo_test_engrams:Scratchpad
        factory = cosmo_test_engrams:make_scratchpad
        heavy = cosmo_test_engrams_heavy:Heavy
        """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("cosmo_test_engrams", "cosmo_test_engrams_heavy"):
        sys.modules.pop(module, None)


def test_engram_kinds_of_a_registered_distribution(engram_distribution: Path) -> None:
    pad = InMemoryEngram.of_kind("scratchpad", engram_id="p", label="todo")
    assert type(pad).__name__ == "Scratchpad" and isinstance(pad, InMemoryEngram)
    assert (pad.engram_id, pad.engram_kind, getattr(pad, "label", None)) == ("p", "scratch", "todo")

    with pytest.raises(TypeError, match=r"'factory' is registered as <function make_scratchpad"):
        Engram.of_kind("factory", engram_id="f")
    with pytest.raises(
        PluginNotInstalledError,
        match="'heavy' cannot load because cosmo_test_missing_dependency is missing",
    ):
        Engram.of_kind("heavy", engram_id="h")

    listed = installed_plugins()["cosmonapse.engrams"]
    assert {name: listed[name] for name in ("factory", "heavy", "scratchpad")} == dict.fromkeys(
        ("factory", "heavy", "scratchpad"), "cosmo-test-engrams"
    )
    with pytest.raises(UnknownPluginError) as info:
        Engram.of_kind("nope", engram_id="n")
    assert {"factory", "heavy", "scratchpad", "kv", "vector", "memory"} <= installed_names(
        str(info.value)
    )
