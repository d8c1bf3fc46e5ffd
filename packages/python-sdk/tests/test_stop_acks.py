"""STOP bounds and acknowledgements (docs/protocol.md section 5, "STOP" and "Retry").

A STOP with ``meta.attempt = N`` stops attempts 1..N of its trace and leaves N+1 alone; a
Dendrite answers one STOPPED per stake, so a second STOP of a trace it already acked gets
no second STOPPED from it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    EngramBinding,
    InMemoryEngram,
    MemorySynapse,
    SignalType,
    SqliteEngram,
    TraceStoppedError,
    new_trace_id,
)

from .conftest import eventually, record

NS = "stop-acks"


async def test_stop_with_attempt_bound_stops_that_attempt_but_not_the_next(
    memory: MemorySynapse,
) -> None:
    ran: list[int] = []

    async def echo(input: dict[str, Any], context: Any) -> dict[str, Any]:
        ran.append(input["attempt"])
        return {"attempt": input["attempt"]}

    worker = Dendrite(synapse=memory, namespace=NS, dendrite_id="w", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("echo", echo))
    boss = Dendrite(synapse=memory, namespace=NS, dendrite_id="boss", heartbeat_s=0)
    async with worker, boss:
        trace = new_trace_id()
        first = await boss.dispatch_and_wait(
            neuron="echo", input={"attempt": 1}, trace_id=trace, meta={"attempt": 1}
        )
        assert first.type is SignalType.AGENT_OUTPUT
        await boss.stop_trace(trace, attempt=2, reason="attempts up to 2 abandoned")
        # Attempt 2 is covered by the bound: it must not run anywhere.
        await boss.dispatch_task(
            neuron="echo", input={"attempt": 2}, trace_id=trace, meta={"attempt": 2}
        )
        # Attempt 3 is past the bound: it runs and is answered.
        third = await boss.dispatch_and_wait(
            neuron="echo", input={"attempt": 3}, trace_id=trace, meta={"attempt": 3}, timeout_s=5
        )
        assert third.type is SignalType.AGENT_OUTPUT
        assert third.payload["output"] == {"attempt": 3}
        assert ran == [1, 3]


async def test_second_stop_of_a_trace_gets_no_second_stopped(memory: MemorySynapse) -> None:
    heard = await record(memory, NS)

    async def echo(input: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"n": input["n"]}

    worker = Dendrite(synapse=memory, namespace=NS, dendrite_id="w", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("echo", echo))
    boss = Dendrite(synapse=memory, namespace=NS, dendrite_id="boss", heartbeat_s=0)
    async with worker, boss:
        trace = new_trace_id()
        reply = await boss.dispatch_and_wait(neuron="echo", input={"n": 1}, trace_id=trace)
        assert reply.type is SignalType.AGENT_OUTPUT
        acks = await boss.stop_trace(trace, collect_acks=True, timeout_s=5)
        assert "w" in {a.payload["node"] for a in acks}

        second = (await boss.stop_trace(trace, reason="stopped again")).stop
        # A round trip through the worker after the second STOP: it handles frames in
        # order, so any STOPPED it meant to send for that STOP is out by now.
        probe = await boss.dispatch_and_wait(neuron="echo", input={"n": 2}, timeout_s=5)
        assert probe.type is SignalType.AGENT_OUTPUT

        def acks_of(stop_id: str) -> list[str]:
            return [
                s.payload.get("node")
                for s in heard
                if s.type is SignalType.STOPPED and s.parent_id == stop_id
            ]

        await eventually(lambda: probe.id in {s.id for s in heard}, what="probe heard")
        assert acks_of(second.id) == []
        assert acks_of(acks[0].parent_id or "").count("w") == 1


async def test_an_engram_that_fails_its_rollback_still_gets_the_stop_acked(
    memory: MemorySynapse, tmp_path: Any
) -> None:
    # A durable Engram whose store is gone (closed) cannot roll back; the STOP is still
    # carried out for the other Engram, and the host still answers STOPPED, naming it.
    broken = SqliteEngram("broken", path=tmp_path / "broken.db")
    healthy = InMemoryEngram("healthy")

    async def write(input: dict[str, Any], context: Any, *, imprint: Any) -> dict[str, Any]:
        await imprint("broken", op="add", entry={"n": 1})
        await imprint("healthy", op="add", entry={"n": 2})
        return {"ok": True}

    host = Dendrite(synapse=memory, namespace=NS, dendrite_id="host", role="worker", heartbeat_s=0)
    host.attach_engram(broken)
    host.attach_engram(healthy)
    bindings = [EngramBinding(n, directed_id=n) for n in ("broken", "healthy")]
    host.attach_axon(Axon("writer", write, engrams=bindings))
    boss = Dendrite(synapse=memory, namespace=NS, dendrite_id="boss", heartbeat_s=0)
    async with host, boss:
        trace = new_trace_id()
        reply = await boss.dispatch_and_wait(neuron="writer", input={}, trace_id=trace)
        assert reply.type is SignalType.AGENT_OUTPUT, reply.payload
        assert len(healthy) == 1
        broken.close()
        acks = await boss.stop_trace(trace, rollback=True, collect_acks=True, timeout_s=5)
        (ack,) = [a for a in acks if a.payload["node"] == "host"]
        assert ack.payload["compensated"] == 1
        assert "closed" in ack.meta["rollback_errors"]["broken"]
        assert len(healthy) == 0


async def test_a_run_stopped_before_it_starts_is_forgotten(memory: MemorySynapse) -> None:
    """A STOP right behind its TASK (one delivery batch) cancels the run before the
    Neuron gets a slot: before the run's first step (Python 3.11) or while it waits for
    the slot (3.12 and later, where runs start eagerly). Either way the run leaves the
    Dendrite's in-flight work and the Neuron never sees the TASK."""
    ran: list[str] = []
    release = asyncio.Event()

    async def gated(input: dict[str, Any], context: Any) -> dict[str, Any]:
        ran.append(context.trace_id)
        await asyncio.wait_for(release.wait(), 30)
        return {}

    worker = Dendrite(
        synapse=memory,
        namespace=NS,
        dendrite_id="w",
        role="worker",
        heartbeat_s=0,
        max_concurrency=1,
    )
    worker.attach_axon(Axon("gated", gated))
    boss = Dendrite(synapse=memory, namespace=NS, dendrite_id="boss", heartbeat_s=0)
    async with worker, boss:
        busy, doomed = new_trace_id(), new_trace_id()
        await boss.dispatch_task(neuron="gated", input={}, trace_id=busy)
        await eventually(lambda: ran == [busy])  # it holds the only slot
        await boss.dispatch_task(neuron="gated", input={}, trace_id=doomed)
        result = await boss.stop_trace(doomed, collect_acks=True, timeout_s=5)
        assert result.cancelled == 1
        await eventually(lambda: worker.stats["in_flight"] == 1)  # only the busy run
        release.set()
        await eventually(lambda: worker.stats["in_flight"] == 0)
        assert ran == [busy]


async def test_a_caller_still_waiting_acks_a_stop_of_its_trace(memory: MemorySynapse) -> None:
    """Dispatching a TASK is taking part in its trace: the caller acks a STOP of it sent by
    someone else, before any reply has come."""

    async def stuck(input: dict[str, Any], context: Any) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    worker = Dendrite(synapse=memory, namespace=NS, dendrite_id="w", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("stuck", stuck))
    caller = Dendrite(synapse=memory, namespace=NS, dendrite_id="caller", heartbeat_s=0)
    admin = Dendrite(synapse=memory, namespace=NS, dendrite_id="admin", heartbeat_s=0)
    async with worker, caller, admin:
        trace = new_trace_id()
        wait = asyncio.ensure_future(
            caller.dispatch_and_wait(neuron="stuck", input={}, trace_id=trace, timeout_s=30)
        )
        await eventually(lambda: worker.stats["in_flight"] == 1)
        result = await admin.stop_trace(trace, collect_acks=True, timeout_s=5)
        assert {"caller", "w"} <= set(result.nodes)
        with pytest.raises(TraceStoppedError):
            await wait
