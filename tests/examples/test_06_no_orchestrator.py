"""examples/06-no-orchestrator: the quickstart, run as its README says (a bus, the HF
stand-in, two workers and a producer, each its own process).

Done when: every prompt is answered once, by the owner ``owner_of`` names, and the
producer learns who answered from ``sig.neuron``. A passive observer on the namespace (a
Doppler) sees every TASK and AGENT_OUTPUT, so the check does not rely on what the
processes say about themselves alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest
from cosmonapse import Signal, SignalType, connect_synapse

from tests.examples.conftest import bus_url
from tests.examples.runner import ExampleProcesses

FOLDER = "06-no-orchestrator"
PEERS = ("worker-a", "worker-b")
# What the stand-in answers to the producer's four prompts, in the producer's order.
ANSWERS = {
    "the sun": "Morning gold climbs the hill, and every shadow learns its name.",
    "the moon": "A quiet silver coin, spent slowly on the sleeping tide.",
    "the sea": "Salt and patience: the sea keeps rewriting the same grey stone.",
    "the wind": "Unseen hands comb the barley and carry the gulls back home.",
}


def owner_of(trace_id: str) -> str:
    """The quickstart's ownership function, written out again so the test is independent."""
    return PEERS[int(hashlib.sha1(trace_id.encode()).hexdigest(), 16) % len(PEERS)]


@pytest.mark.parametrize("transport", ["cosmo", "nats"])
async def test_every_prompt_answered_once_by_its_owner(
    transport: str, procs: ExampleProcesses
) -> None:
    url = await asyncio.to_thread(bus_url, transport, procs, "quickstart")
    standin = await asyncio.to_thread(procs.standin)
    env = {"SYNAPSE_URL": url, "COSMO_HF_ENDPOINT": standin}

    observer = await connect_synapse(url)
    seen: list[Signal] = []
    all_answered = asyncio.Event()

    async def on_frame(subject: str, data: bytes) -> None:
        seen.append(Signal.decode(data))
        if sum(s.type is SignalType.AGENT_OUTPUT for s in seen) >= len(ANSWERS):
            all_answered.set()

    try:
        await observer.subscribe("cosmonapse.quickstart.>", on_frame)
        workers = {
            "worker-a": procs.start(FOLDER, "worker_a.py", env=env),
            "worker-b": procs.start(FOLDER, "worker_b.py", env=env),
        }
        for name, proc in workers.items():
            await asyncio.to_thread(proc.wait_for, rf"^{name} listening — no cortex, no queue$")
        producer = procs.start(FOLDER, "producer.py", env=env)
        assert await asyncio.to_thread(producer.wait_exit, 120) == 0, producer.output

        await asyncio.wait_for(all_answered.wait(), 10)  # hang guard: the observer catches up
        for proc in workers.values():
            await asyncio.to_thread(proc.stop)
    finally:
        await observer.close()

    tasks = [s for s in seen if s.type is SignalType.TASK]
    outputs = [s for s in seen if s.type is SignalType.AGENT_OUTPUT]
    assert [t.payload["input"]["prompt"] for t in tasks] == list(ANSWERS)
    assert all(t.neuron == "pool" for t in tasks)

    # Each trace: exactly one AGENT_OUTPUT, from the owner the hash names.
    for task in tasks:
        replies = [o for o in outputs if o.trace_id == task.trace_id]
        assert len(replies) == 1, (task.trace_id, replies)
        assert replies[0].neuron == owner_of(task.trace_id)
        assert replies[0].parent_id == task.id

    # The producer prints who answered (sig.neuron) and what, in prompt order.
    expected = [
        f"{owner_of(t.trace_id)} answered: {ANSWERS[t.payload['input']['prompt']]}" for t in tasks
    ]
    assert [line for line in producer.lines if " answered: " in line] == expected

    # Each worker claimed exactly the traces it owns, printing trace_id[4:12].
    for name, proc in workers.items():
        claimed = [
            m.group(1)
            for m in map(re.compile(rf"^\[{name}\] claims (\S+)$").match, proc.lines)
            if m
        ]
        owned = [t.trace_id[4:12] for t in tasks if owner_of(t.trace_id) == name]
        assert claimed == owned, (name, proc.output)
