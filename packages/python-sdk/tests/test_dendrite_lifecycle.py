"""Dendrite: concurrent delivery, handler errors, start/stop and what stop() cancels."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    MemorySynapse,
    NeuronContext,
    Signal,
    SignalType,
)

from .conftest import HANG_GUARD_S, Bus, eventually

NS = "lifecycle"


def dendrite(synapse: Any, dendrite_id: str, role: str = "worker", **options: Any) -> Dendrite:
    options.setdefault("heartbeat_s", 0)
    return Dendrite(synapse=synapse, namespace=NS, dendrite_id=dendrite_id, role=role, **options)


async def test_a_neuron_can_wait_on_another_neuron_of_its_own_dendrite(bus: Bus) -> None:
    """Delivery never runs user code inline: a Neuron that dispatch_and_waits a second
    Neuron hosted on the same Dendrite (same connection) completes."""
    hub = dendrite(await bus.connect(), "hub", role="orchestrator")

    async def inner(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        return {"squared": input["n"] ** 2}

    async def outer(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        reply = await hub.dispatch_and_wait(
            neuron="inner",
            input={"n": input["n"]},
            parent_id=context.task.id,
            timeout_s=HANG_GUARD_S,
        )
        return {"inner_said": reply.payload["output"]["squared"]}

    hub.attach_axon(Axon("inner", inner))
    hub.attach_axon(Axon("outer", outer))
    client = dendrite(await bus.connect(), "client", role="orchestrator")
    async with hub, client:
        replies = await asyncio.gather(
            *(
                client.dispatch_and_wait(neuron="outer", input={"n": n}, timeout_s=HANG_GUARD_S)
                for n in range(5)
            )
        )
    assert [r.payload["output"]["inner_said"] for r in replies] == [0, 1, 4, 9, 16]


async def test_many_tasks_run_concurrently(memory: MemorySynapse) -> None:
    """Ten TASKs that each wait for all ten to have started can only finish if they run
    at the same time."""
    started = 0
    all_started = asyncio.Event()

    async def gather_point(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        nonlocal started
        started += 1
        if started == 10:
            all_started.set()
        await all_started.wait()
        return {}

    w = dendrite(memory, "w", max_concurrency=10)
    w.attach_axon(Axon("meet", gather_point))
    boss = dendrite(memory, "boss", role="orchestrator")
    async with w, boss:
        replies = await asyncio.gather(
            *(
                boss.dispatch_and_wait(neuron="meet", input={}, timeout_s=HANG_GUARD_S)
                for _ in range(10)
            )
        )
    assert all(r.type is SignalType.AGENT_OUTPUT for r in replies)


async def test_max_concurrency_bounds_running_neurons(memory: MemorySynapse) -> None:
    running = 0
    peak = 0
    gates: list[asyncio.Event] = []

    async def gated(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        running -= 1
        return {}

    w = dendrite(memory, "w", max_concurrency=2)
    w.attach_axon(Axon("gated", gated))
    boss = dendrite(memory, "boss", role="orchestrator")
    async with w, boss:
        replies = asyncio.gather(
            *(
                boss.dispatch_and_wait(neuron="gated", input={}, timeout_s=HANG_GUARD_S)
                for _ in range(6)
            )
        )
        for released in range(6):
            await eventually(lambda n=released: len(gates) > n)  # type: ignore[misc]
            assert running <= 2
            gates[released].set()
        await asyncio.wait_for(replies, HANG_GUARD_S)
    assert peak == 2


async def test_handler_errors_do_not_kill_delivery(memory: MemorySynapse) -> None:
    boss = dendrite(memory, "boss", role="orchestrator")
    got: list[str] = []

    @boss.on_signal(SignalType.PLAN)
    async def flaky(sig: Signal) -> None:
        got.append(sig.payload["n"])
        if sig.payload["n"] == "boom":
            raise RuntimeError("handler bug")

    sender = dendrite(memory, "sender")
    async with boss, sender:
        for n in ("one", "boom", "two", "boom", "three"):
            await sender.emit(SignalType.PLAN, {"n": n})
        await eventually(lambda: len(got) == 5)
        await eventually(lambda: boss.stats["handler_errors"] == 2)
    assert got == ["one", "boom", "two", "boom", "three"]


async def test_a_slow_handler_does_not_hold_up_the_next_signal(memory: MemorySynapse) -> None:
    boss = dendrite(memory, "boss", role="orchestrator")
    release = asyncio.Event()
    got: list[str] = []

    @boss.on_signal(SignalType.PLAN)
    async def slow_then_fast(sig: Signal) -> None:
        if sig.payload["n"] == "slow":
            await release.wait()
        got.append(sig.payload["n"])

    sender = dendrite(memory, "sender")
    async with boss, sender:
        await sender.emit(SignalType.PLAN, {"n": "slow"})
        await sender.emit(SignalType.PLAN, {"n": "fast"})
        await eventually(lambda: got == ["fast"])
        release.set()
        await eventually(lambda: got == ["fast", "slow"])


async def test_stop_cancels_in_flight_work(bus: Bus) -> None:
    running = asyncio.Event()
    outcome: list[str] = []

    async def forever(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        running.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")
        return {}

    w = dendrite(await bus.connect(), "w")
    w.attach_axon(Axon("forever", forever))
    boss = dendrite(await bus.connect(), "boss", role="orchestrator")
    replies: list[Signal] = []

    @boss.on_agent_output
    async def _reply(sig: Signal) -> None:
        replies.append(sig)

    async with boss:
        await w.start()
        await boss.dispatch_task(neuron="forever", input={})
        await asyncio.wait_for(running.wait(), HANG_GUARD_S)
        assert w.stats["in_flight"] == 1
        await asyncio.wait_for(w.stop(), HANG_GUARD_S)
        assert outcome == ["cancelled"]
        assert w.stats["in_flight"] == 0
        assert not w.started
    assert replies == []


async def test_stop_closes_hosted_neurons_and_deregisters(memory: MemorySynapse) -> None:
    class Closable:
        def __init__(self) -> None:
            self.closed = 0

        async def __call__(self, input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
            return {}

        async def aclose(self) -> None:
            self.closed += 1

    neuron = Closable()
    w = dendrite(memory, "w")
    w.attach_axon(Axon("closable", neuron, ["c"]))
    seen: list[Signal] = []
    observer = dendrite(memory, "observer")

    @observer.on_signal(SignalType.DEREGISTER)
    async def _dereg(sig: Signal) -> None:
        seen.append(sig)

    async with observer:
        await w.start()
        await w.stop()
        await w.stop()  # idempotent
        await eventually(lambda: len(seen) == 1)
    assert neuron.closed == 1
    assert seen[0].neuron == "closable"
    assert seen[0].meta["node"] == "w"
    assert memory.stats["subscriptions"] == 0  # everything unsubscribed


async def test_start_is_idempotent_and_stop_is_final(memory: MemorySynapse) -> None:
    d = dendrite(memory, "d")
    await d.start()
    subs = memory.stats["subscriptions"]
    await d.start()
    assert memory.stats["subscriptions"] == subs
    await d.stop()
    assert not d.started
    never = dendrite(memory, "never")
    await never.stop()  # stopping a Dendrite that never started is fine


async def test_stop_leaves_the_synapse_open(memory: MemorySynapse) -> None:
    async with dendrite(memory, "d"):
        pass
    assert not memory.closed
    await memory.publish("cosmonapse.lifecycle.PLAN", b"{}")


async def test_overload_answers_a_recoverable_error(memory: MemorySynapse) -> None:
    release = asyncio.Event()

    async def blocked(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        await release.wait()
        return {"done": True}

    w = dendrite(memory, "w", max_concurrency=1, max_queued=2)
    w.attach_axon(Axon("blocked", blocked))
    boss = dendrite(memory, "boss", role="orchestrator")
    async with w, boss:
        first = asyncio.ensure_future(
            boss.dispatch_and_wait(neuron="blocked", input={}, timeout_s=HANG_GUARD_S)
        )
        second = asyncio.ensure_future(
            boss.dispatch_and_wait(neuron="blocked", input={}, timeout_s=HANG_GUARD_S)
        )
        await eventually(lambda: w.stats["in_flight"] == 2)
        third = await boss.dispatch_and_wait(neuron="blocked", input={}, timeout_s=HANG_GUARD_S)
        assert third.type is SignalType.ERROR
        assert third.payload["code"] == "OVERLOADED"
        assert third.payload["recoverable"] is True
        assert w.stats["overloaded"] == 1
        release.set()
        for fut in (first, second):
            assert (await fut).payload["output"] == {"done": True}


def test_constructor_validates(memory: MemorySynapse) -> None:
    with pytest.raises(ValueError):
        Dendrite(synapse=memory, namespace=NS, heartbeat_s=-1)
    with pytest.raises(ValueError):
        Dendrite(synapse=memory, namespace=NS, max_concurrency=0)
    with pytest.raises(ValueError):
        Dendrite(synapse=memory, namespace="bad.namespace")
    d = Dendrite(synapse=memory, namespace=NS)
    assert d.dendrite_id.startswith("dendrite-")
    assert d.dendrite_id != Dendrite(synapse=memory, namespace=NS).dendrite_id


async def test_two_namespaces_on_one_bus_do_not_hear_each_other(memory: MemorySynapse) -> None:
    ran: list[str | None] = []

    async def echo(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        ran.append(context.namespace)
        return {"ns": context.namespace}

    a = Dendrite(synapse=memory, namespace="ns-a", role="worker", heartbeat_s=0)
    a.attach_axon(Axon("echo", echo))
    b = Dendrite(synapse=memory, namespace="ns-b", role="worker", heartbeat_s=0)
    b.attach_axon(Axon("echo", echo))
    boss = Dendrite(synapse=memory, namespace="ns-b", heartbeat_s=0)
    async with a, b, boss:
        replies = [
            await boss.dispatch_and_wait(neuron="echo", input={}, timeout_s=HANG_GUARD_S)
            for _ in range(3)
        ]
    assert all(r.payload["output"] == {"ns": "ns-b"} for r in replies)
    assert ran == ["ns-b"] * 3
    assert a.stats["received"] == 0
