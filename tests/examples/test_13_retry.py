"""examples/13-retry: the resilience walkthrough prints the seed's output, on every bus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.conftest import bus_url
from tests.examples.runner import ExampleProcesses, run_example

# Sections 1 and 3 are the resilience text's "Run it" output, verbatim; section 2 is the
# same walkthrough's second scenario in the same style.
EXPECTED = """\
================================================================
1. retry survives a stalled stage
================================================================
   attempt 1 stuck (TimeoutError) -> STOP + re-dispatch on a fresh trace
   -> answer on attempt 2: answer to 'what is a Dendrite?'
   generator was invoked 2 times total

================================================================
2. retry gives up on a stage that always stalls
================================================================
   attempt 1 stuck (TimeoutError) -> STOP + re-dispatch on a fresh trace
   attempt 2 stuck (TimeoutError) -> STOP + re-dispatch on a fresh trace
   attempt 3 stuck (TimeoutError) -> STOP, no attempts left
   -> run_with_retry raised TimeoutError after 3 attempts
   3 attempts STOPped, 3 stalled runs cancelled
   generator was invoked 3 times total

================================================================
3. roll back a half-finished ingest
================================================================
   index size before ingest: 0
   index size after crash: 3  (partial write)
   stop_trace(rollback=True): 3 inverse ops replayed
   index size after rollback: 0  (clean)
"""


# With ENGRAM_PATH the VectorEngram is durable: the same output, and scenario 3 restarts
# the engram host (a new VectorEngram loads the index and journal from the file) between
# the crash and the rollback.
RESTARTED = "   engram host restarted: 3 entries and the journal loaded from disk\n"
EXPECTED_DURABLE = EXPECTED.replace(
    "   index size after crash: 3  (partial write)\n",
    "   index size after crash: 3  (partial write)\n" + RESTARTED,
)


@pytest.mark.parametrize("transport", ["memory", "cosmo", "nats"])
def test_demo_prints_the_seed_output(transport: str, procs: ExampleProcesses) -> None:
    env = {} if transport == "memory" else {"SYNAPSE_URL": bus_url(transport, procs)}
    done = run_example("13-retry", "demo.py", env=env)
    assert done.stdout == EXPECTED
    # The crash in scenario 3 is reported by the Axon's logger, not swallowed.
    assert "crashed after 3 chunks" in done.stderr


@pytest.mark.parametrize("transport", ["memory", "cosmo", "nats"])
def test_demo_with_a_durable_vector_engram(
    transport: str, procs: ExampleProcesses, tmp_path: Path
) -> None:
    store = tmp_path / "retry-vectors.db"
    env = {"ENGRAM_PATH": str(store)}
    if transport != "memory":
        env["SYNAPSE_URL"] = bus_url(transport, procs)
    done = run_example("13-retry", "demo.py", env=env)
    assert done.stdout == EXPECTED_DURABLE
    assert "crashed after 3 chunks" in done.stderr
    assert store.exists()
    # The rollback was committed to the file: a second run starts from an empty index.
    again = run_example("13-retry", "demo.py", env=env)
    assert again.stdout == EXPECTED_DURABLE
