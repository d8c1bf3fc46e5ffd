"""examples/16-agent-team: a planner fans out to researchers in two worker processes and a
writer combines; a second run STOPs the trace mid-way and every process stops working on
it. Both runs are checked against the README's output, on the in-process dev synapse (the
default) and on a bus given by SYNAPSE_URL (a dev synapse of its own, and NATS)."""

from __future__ import annotations

import pytest

from tests.examples.conftest import bus_url
from tests.examples.runner import EXAMPLES, ExampleProcesses

FOLDER = "16-agent-team"
README = EXAMPLES / FOLDER / "README.md"
DEFAULT_BUS = "dev synapse started in this process (cosmo://127.0.0.1, a free port)\n"
RUNS = {"answers": (), "stopped": ("--stop",)}


def promised_output(*args: str) -> str:
    """The output the README shows under ``$ python team.py ARGS``."""
    command = " ".join(["$ python team.py", *args])
    block = README.read_text().split(f"```console\n{command}\n", 1)[1]
    return block.split("```", 1)[0]


def run_team(procs: ExampleProcesses, *args: str, env: dict[str, str] | None = None) -> str:
    """``python team.py ARGS`` as its own process group (its worker processes included),
    which the fixture stops, whatever happens; returns what it printed."""
    team = procs.start(FOLDER, "team.py", *args, env=env)
    code = team.wait_exit()
    output = "".join(f"{line}\n" for line in team.lines)
    assert code == 0, output
    return output


def test_readme_promises_the_tree_and_the_stop() -> None:
    answers = promised_output()
    assert "   <- planner       answered on desk\n" in answers
    assert "   [researchers-a] researcher-a: 2 passages from the library" in answers
    stopped = promised_output("--stop")
    for node, cancelled in (("desk", 1), ("researchers-a", 0), ("researchers-b", 1)):
        assert f"   STOPPED from {node:<13} cancelled {cancelled}\n" in stopped
    assert "   [desk] planner: stopped while waiting for the researchers" in stopped
    assert "   [researchers-b] researcher-b: stopped while reading" in stopped
    assert "<- researcher-b" not in stopped
    assert "-> writer" not in stopped  # the writer is never asked


@pytest.mark.parametrize("run", RUNS)
def test_team_prints_what_the_readme_shows(run: str, procs: ExampleProcesses) -> None:
    args = RUNS[run]
    assert run_team(procs, *args) == promised_output(*args)


@pytest.mark.parametrize("transport", ["cosmo", "nats"])
@pytest.mark.parametrize("run", RUNS)
def test_team_on_a_bus_of_your_own(run: str, transport: str, procs: ExampleProcesses) -> None:
    url = bus_url(transport, procs, namespace="agent-team")
    args = RUNS[run]
    expected = promised_output(*args).replace(DEFAULT_BUS, f"bus: {url}\n", 1)
    assert run_team(procs, *args, env={"SYNAPSE_URL": url}) == expected
