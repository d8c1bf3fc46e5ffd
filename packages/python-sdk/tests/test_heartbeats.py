"""What hosts announce: answers to a filtered DISCOVER, and HEARTBEAT ``in_flight``."""

from __future__ import annotations

import asyncio
from typing import Any

from cosmonapse import Axon, Dendrite, MemorySynapse, Signal, SignalType
from cosmonapse.builders import discover_signal

from .conftest import eventually, record

NS = "announce"


async def _noop(input: dict[str, Any], context: Any) -> dict[str, Any]:
    return {}


def _answers(heard: list[Signal], discover: Signal) -> list[str | None]:
    return [s.neuron for s in heard if s.type is SignalType.REGISTER and s.parent_id == discover.id]


async def test_discover_with_capabilities_is_answered_only_by_covering_participants(
    memory: MemorySynapse,
) -> None:
    heard = await record(memory, NS)
    host = Dendrite(synapse=memory, namespace=NS, dendrite_id="host", role="worker", heartbeat_s=0)
    host.attach_axon(Axon("writer", _noop, capabilities=["write"]))
    host.attach_axon(Axon("reader", _noop, capabilities=["read", "search"]))
    boss = Dendrite(synapse=memory, namespace=NS, dendrite_id="boss", heartbeat_s=0)
    async with host, boss:
        wants_read = discover_signal(capabilities=["read"])
        wants_both = discover_signal(capabilities=["read", "write"])
        everyone = discover_signal()
        for discover in (wants_read, wants_both, everyone):
            await boss.publish(discover)
        # The unfiltered DISCOVER, sent last, is answered by both: the others are done.
        await eventually(
            lambda: sorted(filter(None, _answers(heard, everyone))) == ["reader", "writer"],
            what="both participants answered the unfiltered DISCOVER",
        )
        assert _answers(heard, wants_read) == ["reader"]
        assert _answers(heard, wants_both) == []


async def test_heartbeat_reports_the_real_in_flight_count(memory: MemorySynapse) -> None:
    heard = await record(memory, NS)
    started = asyncio.Event()
    release = asyncio.Event()

    async def blocked(input: dict[str, Any], context: Any) -> dict[str, Any]:
        started.set()
        await release.wait()
        return {"done": True}

    host = Dendrite(
        synapse=memory, namespace=NS, dendrite_id="host", role="worker", heartbeat_s=0.02
    )
    host.attach_axon(Axon("blocked", blocked))
    boss = Dendrite(synapse=memory, namespace=NS, dendrite_id="boss", heartbeat_s=0)

    def beats_since(mark: int) -> list[Any]:
        return [
            s.payload.get("in_flight")
            for s in heard[mark:]
            if s.type is SignalType.HEARTBEAT and s.neuron == "blocked"
        ]

    async with host, boss:
        await eventually(lambda: 0 in beats_since(0), what="an idle heartbeat says 0")
        call = asyncio.create_task(boss.dispatch_and_wait(neuron="blocked", input={}, timeout_s=10))
        await asyncio.wait_for(started.wait(), 10)
        mark = len(heard)
        await eventually(lambda: len(beats_since(mark)) >= 2, what="heartbeats while running")
        assert set(beats_since(mark)) == {1}
        release.set()
        reply = await call
        assert reply.type is SignalType.AGENT_OUTPUT
        await eventually(lambda: _idle(heard), what="a heartbeat after the run says 0")
        mark = len(heard)
        await eventually(lambda: len(beats_since(mark)) >= 2, what="heartbeats after the run")
        assert set(beats_since(mark)) == {0}


def _idle(heard: list[Signal]) -> bool:
    beats = [s for s in heard if s.type is SignalType.HEARTBEAT]
    return bool(beats) and beats[-1].payload.get("in_flight") == 0
