"""The quickstart seed's no-orchestrator topology, written the way the seed writes it.

Two workers each hear every TASK, hash the trace id with the seed's ``owner_of`` and run
their (unattached) Axon only when the hash names them; a producer drops TASKs addressed
to a logical "pool" and learns who answered from ``sig.neuron``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from typing import Any

from cosmonapse import Axon, Dendrite, Signal, SignalType, new_trace_id
from cosmonapse import owner_of as sdk_owner_of

from .conftest import HANG_GUARD_S, Bus

NAMESPACE = "quickstart"
PEERS = ("worker-a", "worker-b")


def owner_of(trace_id: str) -> str:
    """The seed's pure function: every peer computes the same owner."""
    h = int(hashlib.sha1(trace_id.encode()).hexdigest(), 16)
    return PEERS[h % len(PEERS)]


def balanced_traces(per_peer: int) -> list[str]:
    """Fresh trace ids, ``per_peer`` owned by each peer, interleaved."""
    by_owner: dict[str, list[str]] = {p: [] for p in PEERS}
    while any(len(v) < per_peer for v in by_owner.values()):
        trace_id = new_trace_id()
        bucket = by_owner[owner_of(trace_id)]
        if len(bucket) < per_peer:
            bucket.append(trace_id)
    return [t for pair in zip(*by_owner.values(), strict=True) for t in pair]


class Worker:
    """One seed worker: a Dendrite that claims the TASKs its hash names."""

    def __init__(self, my_id: str, synapse: Any) -> None:
        self.my_id = my_id
        self.seen: list[str] = []
        self.claimed: list[str] = []
        self.finished: list[str] = []

        async def poet(input: dict[str, Any], context: Any) -> dict[str, Any]:
            return {"response": f"{my_id} on {input['prompt']}"}

        # The Axon is NOT attached: routing is by hash, not by neuron id.
        self.axon = Axon(neuron_id=my_id, neuron_fn=poet, capabilities=["chat"])
        self.dendrite = Dendrite(
            synapse=synapse, namespace=NAMESPACE, dendrite_id=my_id, heartbeat_s=0
        )

    async def on_task(self, task: Signal) -> None:
        self.seen.append(task.trace_id)
        if owner_of(task.trace_id) != self.my_id:
            self.finished.append(task.trace_id)
            return  # a peer owns this one
        self.claimed.append(task.trace_id)
        reply = await self.axon.handle_task(task)
        await self.dendrite.publish(reply)
        self.finished.append(task.trace_id)


async def test_no_orchestrator_topology(bus: Bus, wait_until: Any) -> None:
    workers = [Worker(my_id, await bus.connect()) for my_id in PEERS]
    producer = Dendrite(
        synapse=await bus.connect(), namespace=NAMESPACE, dendrite_id="producer", heartbeat_s=0
    )
    pending: dict[str, asyncio.Future[tuple[str | None, dict[str, Any]]]] = {}
    outputs: list[Signal] = []

    @producer.on_agent_output
    async def _on_output(sig: Signal) -> None:
        outputs.append(sig)
        fut = pending.pop(sig.trace_id, None)
        if fut and not fut.done():
            fut.set_result((sig.neuron, sig.payload.get("output", {})))

    traces = balanced_traces(per_peer=6)
    answers: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for worker in workers:
        await worker.dendrite.start()
        await worker.dendrite.subscribe(SignalType.TASK, worker.on_task)
    async with producer:
        for i, trace_id in enumerate(traces):
            fut = asyncio.get_running_loop().create_future()
            pending[trace_id] = fut
            # The producer does no routing: it just drops work in.
            await producer.dispatch_task(
                neuron="pool", input={"prompt": f"prompt {i}"}, trace_id=trace_id
            )
            answers[trace_id] = await asyncio.wait_for(fut, timeout=HANG_GUARD_S)
        # Both workers have heard, and finished with, every TASK.
        await wait_until(lambda: all(len(w.finished) == len(traces) for w in workers))
        await wait_until(lambda: len(outputs) >= len(traces))
    for worker in workers:
        await worker.dendrite.stop()

    for worker in workers:
        assert sorted(worker.seen) == sorted(traces)  # every worker hears every TASK
    claims = Counter(t for w in workers for t in w.claimed)
    assert claims == Counter(traces)  # every prompt claimed exactly once
    assert Counter(o.trace_id for o in outputs) == Counter(traces)  # answered exactly once
    for i, trace_id in enumerate(traces):
        who, out = answers[trace_id]
        assert who == owner_of(trace_id) == sdk_owner_of(trace_id, PEERS)
        assert out == {"response": f"{who} on prompt {i}"}
        claimant = next(w for w in workers if trace_id in w.claimed)
        assert claimant.my_id == who
    assert {w.my_id for w in workers if w.claimed} == set(PEERS)  # the load is shared
