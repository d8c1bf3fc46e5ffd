"""A STOP at the root reaches grandchildren running in other processes (dev synapse and
NATS): a planner here delegates to researchers in one worker process, which delegate to
fact finders in another. Every run of the tree records its cancellation, the root's wait
ends, and nothing of the trace is published after the STOP but the acks."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, SignalType, TraceStoppedError, new_trace_id

from tests.reliability._procs.handles import Child

from .conftest import HANG_GUARD_S, Bus, eventually, record

NS = "delegation-procs"
WORKER = Path(__file__).with_name("_procs") / "team_worker.py"


@pytest.fixture(params=["dev", "nats"])
async def remote_bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    b = Bus(request.param)
    await b.open()
    try:
        yield b
    finally:
        await asyncio.wait_for(b.aclose(), HANG_GUARD_S)


async def test_a_root_stop_cancels_grandchildren_in_other_processes(
    remote_bus: Bus, tmp_path: Path
) -> None:
    bus = remote_bus
    observer = await record(await bus.connect(), NS)
    lab = Child(
        "lab", [sys.executable, str(WORKER), bus.url, NS, "lab", "researcher", "ping"], tmp_path
    )
    desk = Child(
        "desk", [sys.executable, str(WORKER), bus.url, NS, "desk", "fact", "ping"], tmp_path
    )
    planned: list[str] = []

    async def planner(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        planned.append("started")
        try:
            return await asyncio.gather(
                call(neuron="researcher", input={"topic": "a"}),
                call(neuron="researcher", input={"topic": "b"}),
            )
        except asyncio.CancelledError:
            planned.append("cancelled")
            raise

    lead = Dendrite(synapse=await bus.connect(), namespace=NS, role="worker", heartbeat_s=0)
    lead.attach_axon(Axon("planner", planner))
    api = Dendrite(synapse=await bus.connect(), namespace=NS, dendrite_id="api", heartbeat_s=0)
    try:
        for child in (lab, desk):
            await child.spawn()
            await child.wait_for(rf"^{child.name} ready$")
        async with lead, api:
            for child in (lab, desk):  # each worker's subscriptions are live
                await api.dispatch_and_wait(neuron=f"ping-{child.name}", input={}, timeout_s=10)
            trace = new_trace_id()
            wait = asyncio.ensure_future(
                api.dispatch_and_wait(
                    neuron="planner", input={}, trace_id=trace, timeout_s=HANG_GUARD_S * 3
                )
            )
            for topic in ("a1", "a2", "b1", "b2"):
                await desk.wait_for(rf"^started fact {topic} {trace} depth=2$")
            # Nobody has answered on the trace yet, yet the acks name the runs of every
            # TASK waited on (the root here, the children in the workers): it is complete
            # as soon as the three workers acked, not at the timeout.
            result = await api.stop_trace(trace, collect_acks=True, timeout_s=HANG_GUARD_S * 3)
            assert result.complete
            with pytest.raises(TraceStoppedError):
                await asyncio.wait_for(wait, HANG_GUARD_S)
            for topic in ("a1", "a2", "b1", "b2"):
                await desk.wait_for(rf"^cancelled fact {topic} {trace}$")
            for topic in ("a", "b"):
                await lab.wait_for(rf"^cancelled researcher {topic} {trace}$")
            await eventually(lambda: planned == ["started", "cancelled"], what="planner cancelled")
            assert {"lab", "desk", lead.dendrite_id} <= set(result.nodes)
            assert result.cancelled == 7
            # Probes through both workers' connections, seen by the observer: whatever the
            # workers published before them has been seen too.
            for child in (lab, desk):
                probe = await api.dispatch_and_wait(
                    neuron=f"ping-{child.name}", input={}, timeout_s=10
                )
                await eventually(lambda p=probe: any(s.id == p.id for s in observer), what="probe")
    finally:
        for child in (lab, desk):
            await child.close()
    stop_at = next(
        i for i, s in enumerate(observer) if s.type is SignalType.STOP and s.trace_id == trace
    )
    tasks = [s for s in observer[:stop_at] if s.type is SignalType.TASK and s.trace_id == trace]
    assert len(tasks) == 7  # planner, 2 researchers, 4 facts
    late = [
        s
        for s in observer[stop_at:]
        if s.trace_id == trace and s.type not in (SignalType.STOP, SignalType.STOPPED)
    ]
    assert late == [], late
