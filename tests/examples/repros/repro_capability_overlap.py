"""Reproduction, not part of the suite (the file name keeps pytest from collecting it):

    python -m pytest tests/examples/repros/repro_capability_overlap.py

PROTOCOL.md section 5: "A TASK addressed by capabilities goes once to one host whose
capabilities cover the request." When two hosts cover the request with *different*
capability profiles, each profile is its own ``caps:`` queue group, the routed subject
delivers one copy per group, and both hosts run the TASK.
"""

from __future__ import annotations

import asyncio
import contextlib

from cosmonapse import Axon, Dendrite, MemorySynapse


async def test_a_capability_task_runs_once_when_profiles_overlap() -> None:
    synapse = MemorySynapse()
    runs: list[str] = []
    ran_twice = asyncio.Event()

    def neuron(name: str):  # type: ignore[no-untyped-def]
        async def run(input: dict[str, object], context: object) -> dict[str, object]:
            runs.append(name)
            if len(runs) > 1:
                ran_twice.set()
            return {"by": name}

        return run

    summarizer = Dendrite(synapse=synapse, namespace="repro", dendrite_id="a", role="worker")
    summarizer.attach_axon(Axon("summarizer", neuron("summarizer"), capabilities=["summarize"]))
    polyglot = Dendrite(synapse=synapse, namespace="repro", dendrite_id="b", role="worker")
    polyglot.attach_axon(
        Axon("polyglot", neuron("polyglot"), capabilities=["summarize", "translate"])
    )
    orchestrator = Dendrite(synapse=synapse, namespace="repro", dendrite_id="o")
    async with summarizer, polyglot, orchestrator:
        await orchestrator.dispatch_and_wait(capabilities=["summarize"], input={}, timeout_s=5)
        # Give a second copy every chance to run; a correct router never sets the event.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ran_twice.wait(), 1.0)
    assert len(runs) == 1, f"one capability TASK ran on {runs}"
