"""What a ``dispatch_and_wait`` waits for and what happens when it stops waiting.

* Replies are matched to their TASK (``parent_id``; for a FINAL, ``meta.task`` or the
  AGENT_OUTPUT it is parented to), so concurrent waits on one trace each get their own.
* A wait that ends unanswered (timeout, or the caller cancelled) STOPs its attempt, so the
  Neuron does not run on unseen; ``stop_abandoned=False`` leaves it running.
* With ``retry``, the call's ``timeout_s`` still bounds the whole call, and both retry
  entry points take the same task options.
* A TASK no receiver would take (a malformed trace or parent id, a neuron id that is not a
  string) is refused at once, naming the field, instead of waiting out its timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    DispatchTimeoutError,
    EnvelopeError,
    NeuronContext,
    RetryStrategy,
    Signal,
    SignalType,
    new_trace_id,
)
from cosmonapse.builders import agent_output_signal, final_signal

from .conftest import HANG_GUARD_S, Bus, eventually

NS = "waits"


def worker(synapse: Any, *axons: Axon, name: str = "worker") -> Dendrite:
    d = Dendrite(synapse=synapse, namespace=NS, dendrite_id=name, role="worker", heartbeat_s=0)
    for axon in axons:
        d.attach_axon(axon)
    return d


def orchestrator(synapse: Any, name: str = "boss") -> Dendrite:
    return Dendrite(synapse=synapse, namespace=NS, dendrite_id=name, heartbeat_s=0)


class Gated:
    """A Neuron that holds each TASK until its ``input["key"]`` is released, and records
    which runs started, finished and were cancelled."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.finished: list[str] = []

    def gate(self, key: str) -> asyncio.Event:
        return self.gates.setdefault(key, asyncio.Event())

    async def __call__(self, input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        key = input["key"]
        self.started.append(key)
        try:
            await asyncio.wait_for(self.gate(key).wait(), HANG_GUARD_S)
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        self.finished.append(key)
        return {"key": key}


async def test_two_waits_on_one_trace_each_get_their_own_reply(bus: Bus) -> None:
    neuron = Gated()
    w = worker(await bus.connect(), Axon("gated", neuron))
    boss = orchestrator(await bus.connect())
    trace = new_trace_id()
    async with w, boss:
        first = asyncio.ensure_future(
            boss.dispatch_and_wait(
                neuron="gated", input={"key": "a"}, trace_id=trace, timeout_s=HANG_GUARD_S
            )
        )
        second = asyncio.ensure_future(
            boss.dispatch_and_wait(
                neuron="gated", input={"key": "b"}, trace_id=trace, timeout_s=HANG_GUARD_S
            )
        )
        await eventually(lambda: sorted(neuron.started) == ["a", "b"])
        neuron.gate("b").set()  # the second TASK's answer comes first
        reply_b = await asyncio.wait_for(second, HANG_GUARD_S)
        assert not first.done()  # b's answer did not end a's wait
        neuron.gate("a").set()
        reply_a = await asyncio.wait_for(first, HANG_GUARD_S)
    assert reply_a.payload["output"] == {"key": "a"}
    assert reply_b.payload["output"] == {"key": "b"}
    assert reply_a.trace_id == reply_b.trace_id == trace
    assert reply_a.parent_id != reply_b.parent_id


async def test_finalize_waits_on_one_trace_each_get_the_final_that_closes_their_task(
    bus: Bus,
) -> None:
    neuron = Gated()
    outputs: list[Signal] = []
    w = worker(await bus.connect(), Axon("gated", neuron))
    boss = orchestrator(await bus.connect())
    watcher = orchestrator(await bus.connect(), "watcher")

    @watcher.on_agent_output
    async def _seen(sig: Signal) -> None:
        outputs.append(sig)

    trace = new_trace_id()
    async with w, boss, watcher:
        waits = {
            key: asyncio.ensure_future(
                boss.dispatch_and_wait(
                    neuron="gated",
                    input={"key": key},
                    trace_id=trace,
                    finalize=True,
                    timeout_s=HANG_GUARD_S,
                )
            )
            for key in ("a", "b")
        }
        await eventually(lambda: sorted(neuron.started) == ["a", "b"])
        neuron.gate("b").set()
        final_b = await asyncio.wait_for(waits["b"], HANG_GUARD_S)
        assert not waits["a"].done()
        neuron.gate("a").set()
        final_a = await asyncio.wait_for(waits["a"], HANG_GUARD_S)
        await eventually(lambda: len(outputs) == 2)
    assert final_a.type is final_b.type is SignalType.FINAL
    assert final_a.payload["result"] == {"key": "a"}
    assert final_b.payload["result"] == {"key": "b"}
    # the FINAL is parented to the AGENT_OUTPUT it promotes, and names the TASK it closes
    output_of = {o.payload["output"]["key"]: o for o in outputs}
    assert final_a.parent_id == output_of["a"].id
    assert final_b.parent_id == output_of["b"].id
    assert final_a.meta["task"] == output_of["a"].parent_id
    assert final_b.meta["task"] == output_of["b"].parent_id


async def test_a_final_parented_to_its_output_reaches_the_right_wait(bus: Bus) -> None:
    """A worker that names the TASK only through the AGENT_OUTPUT (no ``meta.task``), as
    published-protocol workers do, still closes the right wait."""
    w = Dendrite(synapse=await bus.connect(), namespace=NS, dendrite_id="plain", role="worker")
    tasks: list[Signal] = []

    async def on_task(task: Signal) -> None:
        tasks.append(task)

    boss = orchestrator(await bus.connect())
    trace = new_trace_id()
    async with w, boss:
        await w.subscribe(SignalType.TASK, on_task)
        waits = [
            asyncio.ensure_future(
                boss.dispatch_and_wait(
                    neuron="plain", input={"n": n}, trace_id=trace, finalize=True, timeout_s=5
                )
            )
            for n in (1, 2)
        ]
        await eventually(lambda: len(tasks) == 2)
        late = next(t for t in tasks if t.payload["input"]["n"] == 2)
        output = agent_output_signal(late, output={"n": 2}, producer="plain")
        await w.publish(output)
        await w.publish(
            final_signal(trace_id=trace, parent_id=output.id, result={"n": 2}, producer="plain")
        )
        done = await asyncio.wait_for(waits[1], HANG_GUARD_S)
        assert done.type is SignalType.FINAL and done.payload["result"] == {"n": 2}
        assert not waits[0].done()
        waits[0].cancel()


async def test_a_timed_out_wait_stops_its_attempt(bus: Bus) -> None:
    neuron = Gated()
    w = worker(await bus.connect(), Axon("gated", neuron))
    boss = orchestrator(await bus.connect())
    async with w, boss:
        with pytest.raises(DispatchTimeoutError):
            await boss.dispatch_and_wait(neuron="gated", input={"key": "slow"}, timeout_s=0.3)
        await eventually(lambda: neuron.cancelled == ["slow"], what="the Neuron cancelled")
    assert neuron.finished == []


@pytest.mark.parametrize("how", ["asyncio.timeout", "task group"])
async def test_a_cancelled_caller_stops_its_attempt(bus: Bus, how: str) -> None:
    neuron = Gated()
    w = worker(await bus.connect(), Axon("gated", neuron))
    boss = orchestrator(await bus.connect())
    async with w, boss:
        call = boss.dispatch_and_wait(neuron="gated", input={"key": "k"}, timeout_s=HANG_GUARD_S)
        if how == "asyncio.timeout":
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await call
        else:

            async def fail_soon() -> None:
                await eventually(lambda: neuron.started == ["k"])
                raise RuntimeError("a sibling failed")

            with pytest.raises(ExceptionGroup):
                async with asyncio.TaskGroup() as group:
                    group.create_task(call)
                    group.create_task(fail_soon())
        await eventually(lambda: neuron.cancelled == ["k"], what="the Neuron cancelled")
    assert neuron.finished == []


async def test_stop_abandoned_false_leaves_the_neuron_running(bus: Bus) -> None:
    neuron = Gated()
    w = worker(await bus.connect(), Axon("gated", neuron))
    boss = orchestrator(await bus.connect())
    async with w, boss:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await boss.dispatch_and_wait(
                    neuron="gated", input={"key": "k"}, timeout_s=5, stop_abandoned=False
                )
        await eventually(lambda: neuron.started == ["k"])
        # a later wait answered by the same worker shows it has handled what came before
        neuron.gate("fence").set()
        await boss.dispatch_and_wait(neuron="gated", input={"key": "fence"}, timeout_s=5)
        assert neuron.cancelled == []
        neuron.gate("k").set()
        await eventually(lambda: "k" in neuron.finished)


async def test_a_cancelled_wait_does_not_stop_a_trace_another_wait_shares(bus: Bus) -> None:
    neuron = Gated()
    w = worker(await bus.connect(), Axon("gated", neuron))
    boss = orchestrator(await bus.connect())
    trace = new_trace_id()
    async with w, boss:
        kept = asyncio.ensure_future(
            boss.dispatch_and_wait(
                neuron="gated", input={"key": "kept"}, trace_id=trace, timeout_s=HANG_GUARD_S
            )
        )
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await boss.dispatch_and_wait(
                    neuron="gated", input={"key": "dropped"}, trace_id=trace, timeout_s=5
                )
        neuron.gate("kept").set()
        reply = await asyncio.wait_for(kept, HANG_GUARD_S)
        assert neuron.cancelled == []  # (the worker's own stop cancels it at the end)
        assert sorted(neuron.started) == ["dropped", "kept"]
    assert reply.payload["output"] == {"key": "kept"}


async def test_the_calls_timeout_bounds_a_retried_call(memory: Any) -> None:
    neuron = Gated()
    w = worker(memory, Axon("gated", neuron))
    boss = orchestrator(memory)
    async with w, boss:
        with pytest.raises(DispatchTimeoutError, match=r"call's timeout of 0\.3 s") as info:
            await boss.dispatch_and_wait(
                neuron="gated",
                input={"key": "k"},
                timeout_s=0.3,
                retry=RetryStrategy(max_attempts=2, timeout_s=HANG_GUARD_S),
            )
        assert "1 of 2 attempts" in str(info.value)
        await eventually(lambda: neuron.cancelled == ["k"])
    assert neuron.started == ["k"]  # the call ended inside its first attempt


async def test_a_retried_call_without_timeout_runs_every_attempt(memory: Any) -> None:
    neuron = Gated()
    w = worker(memory, Axon("gated", neuron))
    boss = orchestrator(memory)
    async with w, boss:
        with pytest.raises(DispatchTimeoutError, match=r"in 2 attempts of 0\.2 s"):
            await boss.run_with_retry(
                neuron="gated",
                input={"key": "k"},
                retry=RetryStrategy(max_attempts=2, timeout_s=0.2),
            )
        await eventually(lambda: neuron.cancelled == ["k", "k"])


async def test_both_retry_entry_points_take_the_same_task_options(memory: Any) -> None:
    seen: list[Signal] = []

    async def record(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        return {}

    w = worker(memory, Axon("rec", record))
    boss = orchestrator(memory)
    watcher = orchestrator(memory, "watcher")

    async def on_task(task: Signal) -> None:
        seen.append(task)

    retry = RetryStrategy(max_attempts=1, timeout_s=HANG_GUARD_S)
    async with w, boss, watcher:
        await watcher.subscribe(SignalType.TASK, on_task)
        options: dict[str, Any] = {
            "neuron": "rec",
            "input": {},
            "parent_id": "evt_01J00000000000000000000000",
            "context_ref": "ctx-7",
            "timeout_s": HANG_GUARD_S,
            "retry": retry,
        }
        await boss.dispatch_and_wait(**options)
        await boss.run_with_retry(**options)
        await eventually(lambda: len(seen) == 2)
    for task in seen:
        assert task.parent_id == "evt_01J00000000000000000000000"
        assert task.payload["context_ref"] == "ctx-7"
        assert task.meta["attempt"] == 1


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"trace_id": "abc"}, "trace_id"),
        ({"trace_id": "trc_" + "I" * 26}, "trace_id"),  # I is not a Crockford letter
        ({"parent_id": "p1"}, "parent_id"),
        ({"parent_id": new_trace_id()}, "parent_id"),  # a trace id is not a Signal id
        ({"neuron": 5}, "directed.id"),
    ],
)
async def test_a_task_no_receiver_would_take_is_refused_at_once(
    bus: Bus, options: dict[str, Any], field: str
) -> None:
    async def echo(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        return input

    host = worker(await bus.connect(), Axon("echo", echo))
    boss = orchestrator(await bus.connect())
    async with host, boss:
        published = boss.counters["published"]
        call = {"neuron": "echo", "input": {}, "timeout_s": HANG_GUARD_S, **options}
        with pytest.raises(EnvelopeError) as refused:
            await boss.dispatch_and_wait(**call)
        assert refused.value.field == field
        with pytest.raises(EnvelopeError):
            await boss.dispatch_task(**{k: v for k, v in call.items() if k != "timeout_s"})
        assert boss.counters["published"] == published  # nothing went out
        # a well-formed call still works, on the same Dendrites
        reply = await boss.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=HANG_GUARD_S)
        assert reply.output == {"n": 1}


def test_an_axon_refuses_capabilities_that_are_not_strings() -> None:
    async def echo(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        return input

    with pytest.raises(TypeError, match="capabilities must be strings"):
        Axon("echo", echo, capabilities=["summarize", 3])  # type: ignore[list-item]
