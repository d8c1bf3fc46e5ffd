"""Resilience (docs/protocol.md section 5): retry, STOP, cancellation and saga rollback.

Every test runs twice through the ``bus`` fixture: in process on a MemorySynapse, and over
the dev synapse (a real server on a free loopback port, one TCP client per Dendrite). The
topology is the resilience seed's: an engram host, a worker with the Axons, an
orchestrator "api"; plus a passive recorder that hears every Signal of the namespace.

Nothing here asserts on time except the lower bound the retry contract promises; every
wait has a generous hang guard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    DispatchTimeoutError,
    EngramBinding,
    InMemoryEngram,
    NeuronContext,
    NeuronError,
    RetryStrategy,
    Signal,
    SignalType,
    Synapse,
    TraceStoppedError,
    new_trace_id,
)
from cosmonapse.builders import agent_output_signal
from cosmonapse.subjects import namespace_wildcard

from .conftest import HANG_GUARD_S, Bus, eventually

NS = "retry-demo"


class Recorder:
    """A passive observer (a Doppler): every Signal of the namespace, decoded."""

    def __init__(self) -> None:
        self.signals: list[Signal] = []

    async def attach(self, synapse: Synapse) -> None:
        async def hear(subject: str, data: bytes) -> None:
            self.signals.append(Signal.decode(data))

        await synapse.subscribe(namespace_wildcard(NS), hear)

    def of(self, kind: SignalType, **where: Any) -> list[Signal]:
        found = [s for s in self.signals if s.type is kind]
        for key, value in where.items():
            if key == "neuron":
                found = [s for s in found if s.neuron == value]
            elif key == "trace_id":
                found = [s for s in found if s.trace_id == value]
        return found


class Calls:
    """What a test Neuron went through, one record per invocation."""

    def __init__(self) -> None:
        self.started: list[str] = []  # trace ids
        self.cancelled: list[str] = []
        self.finished: list[str] = []


def chunk_text(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


TEXT = "Dendrites host Axons and Engrams; a Synapse carries Signals between them."


async def ingest_neuron(
    input: dict[str, Any], context: NeuronContext, *, imprint: Any
) -> dict[str, Any]:
    """The seed's ingester: one upsert per chunk, crashing after ``fail_after``."""
    doc_id = input["doc_id"]
    chunks = chunk_text(input["text"])
    fail_after = input.get("fail_after")
    written = 0
    for i, chunk in enumerate(chunks):
        if fail_after is not None and i >= fail_after:
            raise RuntimeError(f"ingest of {doc_id!r} crashed after {written} chunks")
        await imprint(
            "vectors",
            op="upsert",
            entry={"doc_id": doc_id, "chunk_index": i, "text": chunk},
            merge_key=f"{doc_id}:{i}",
            await_ack=True,
            timeout_s=5.0,
        )
        written += 1
    return {"doc_id": doc_id, "chunks": written}


def make_generator(calls: Calls, *, stall_first: int) -> Callable[..., Any]:
    """The seed's flaky generator: stalls on its first ``stall_first`` calls."""

    async def generator(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        calls.started.append(context.trace_id)
        n = len(calls.started)
        if n <= stall_first:
            try:
                await asyncio.sleep(3600)  # far past any retry timeout
            except asyncio.CancelledError:
                calls.cancelled.append(context.trace_id)
                raise
        calls.finished.append(context.trace_id)
        return {"answer": f"answer to {input['question']!r}", "attempt": n}

    return generator


class Topology:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.engram = InMemoryEngram("retry-vectors", "semantic")
        self.recorder = Recorder()
        self.dendrites: list[Dendrite] = []
        self.host: Dendrite
        self.worker: Dendrite
        self.api: Dendrite

    async def build(self, *axons: Axon, worker_options: dict[str, Any] | None = None) -> None:
        b = self.bus
        await self.recorder.attach(await b.connect())
        self.host = Dendrite(
            synapse=await b.connect(),
            namespace=NS,
            dendrite_id="engram-host",
            role="worker",
            heartbeat_s=0,
        )
        self.host.attach_engram(self.engram)
        self.worker = Dendrite(
            synapse=await b.connect(),
            namespace=NS,
            dendrite_id="worker",
            role="worker",
            heartbeat_s=0,
            **(worker_options or {}),
        )
        for axon in axons:
            self.worker.attach_axon(axon)
        self.api = Dendrite(
            synapse=await b.connect(),
            namespace=NS,
            dendrite_id="api",
            role="orchestrator",
            heartbeat_s=0,
        )
        self.dendrites = [self.host, self.worker, self.api]
        for d in self.dendrites:
            await d.start()

    async def aclose(self) -> None:
        for d in reversed(self.dendrites):
            await d.stop()

    async def fence_stops(self) -> None:
        """Return once the engram host has handled every STOP published so far.

        The host handles STOPs one at a time in arrival order, so when it has acked a
        STOP published after them, it has handled them all.
        """
        trace_id = new_trace_id()
        self.engram.imprint(op="add", entry={"fence": True}, trace_id=trace_id)  # a stake
        await self.api.stop_trace(trace_id, rollback=True)
        await eventually(lambda: len(self.host_acks(trace_id)) == 1, what="fence acked")

    def host_acks(self, trace_id: str) -> list[Signal]:
        return [
            s
            for s in self.recorder.of(SignalType.STOPPED, trace_id=trace_id)
            if s.payload["node"] == "engram-host"
        ]


@pytest.fixture
async def topo(bus: Bus) -> AsyncIterator[Topology]:
    t = Topology(bus)
    try:
        yield t
    finally:
        await asyncio.wait_for(t.aclose(), HANG_GUARD_S)


def ingester() -> Axon:
    bind = EngramBinding(name="vectors", directed_id="retry-vectors")
    return Axon(
        neuron_id="ingester", neuron_fn=ingest_neuron, capabilities=["ingest"], engrams=[bind]
    )


# -- retry ---------------------------------------------------------------------------------


async def test_retry_survives_a_stalled_stage_and_cancels_it(topo: Topology) -> None:
    calls = Calls()
    await topo.build(Axon("generator", make_generator(calls, stall_first=1), ["generate"]))
    retried: list[tuple[int, BaseException | Signal]] = []

    sig = await asyncio.wait_for(
        topo.api.run_with_retry(
            neuron="generator",
            input={"question": "what is a Dendrite?"},
            retry=RetryStrategy(
                max_attempts=3, timeout_s=0.5, on_retry=lambda a, o: retried.append((a, o))
            ),
        ),
        HANG_GUARD_S,
    )
    assert sig.type is SignalType.AGENT_OUTPUT
    assert sig.payload["output"] == {"answer": "answer to 'what is a Dendrite?'", "attempt": 2}
    assert sig.meta["attempt"] == 2
    # The stalled first attempt was really cancelled, not left sleeping behind the retry.
    first_trace = calls.started[0]
    await eventually(lambda: calls.cancelled == [first_trace], what="attempt 1 cancelled")
    assert calls.finished == [sig.trace_id]
    assert sig.trace_id != first_trace  # the retry ran on a fresh trace
    assert [(a, type(o)) for a, o in retried] == [(1, TimeoutError)]
    # The abandoned attempt was STOPped; its TASK carried meta.attempt=1.
    await eventually(lambda: len(topo.recorder.of(SignalType.STOP, trace_id=first_trace)) == 1)
    tasks = topo.recorder.of(SignalType.TASK, neuron="generator")
    assert [t.meta["attempt"] for t in tasks] == [1, 2]
    assert tasks[1].meta["retry_of"] == first_trace
    stopped = topo.recorder.of(SignalType.STOPPED, trace_id=first_trace)
    await eventually(lambda: len(topo.recorder.of(SignalType.STOPPED, trace_id=first_trace)) >= 1)
    stopped = topo.recorder.of(SignalType.STOPPED, trace_id=first_trace)
    assert {s.payload["node"]: s.payload["cancelled"] for s in stopped}["worker"] == 1


async def test_an_always_stalling_stage_gives_up_after_max_attempts(topo: Topology) -> None:
    calls = Calls()
    await topo.build(Axon("generator", make_generator(calls, stall_first=99), ["generate"]))
    retried: list[tuple[int, Any]] = []

    async def on_retry(attempt: int, outcome: Any) -> None:  # async callbacks are awaited
        retried.append((attempt, outcome))

    strategy = RetryStrategy(max_attempts=3, timeout_s=0.25, on_retry=on_retry)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        await asyncio.wait_for(
            topo.api.dispatch_and_wait(neuron="generator", input={"question": "q"}, retry=strategy),
            HANG_GUARD_S,
        )
    elapsed = time.monotonic() - started
    assert isinstance(info.value, DispatchTimeoutError)
    assert "3 attempts" in str(info.value)
    assert elapsed >= 3 * 0.25 * 0.9
    # Exactly max_attempts attempts, each on its own trace, each STOPped and cancelled.
    tasks = topo.recorder.of(SignalType.TASK, neuron="generator")
    assert [t.meta["attempt"] for t in tasks] == [1, 2, 3]
    traces = [t.trace_id for t in tasks]
    assert len(set(traces)) == 3
    await eventually(lambda: len(topo.recorder.of(SignalType.STOP)) >= 3)
    assert sorted(s.trace_id for s in topo.recorder.of(SignalType.STOP)) == sorted(traces)
    await eventually(lambda: sorted(calls.cancelled) == sorted(traces), what="all cancelled")
    assert sorted(calls.started) == sorted(traces)
    assert calls.finished == []
    # on_retry saw the 1-based number of each failed attempt that was retried.
    assert [a for a, _ in retried] == [1, 2]
    assert all(isinstance(o, TimeoutError) for _, o in retried)


async def test_a_recoverable_error_is_retried_and_a_fatal_one_returned(topo: Topology) -> None:
    calls: dict[str, int] = {"flaky": 0, "fatal": 0, "always": 0}

    async def flaky(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        calls["flaky"] += 1
        if context.attempt == 1:
            raise NeuronError("upstream busy", code="UPSTREAM_BUSY", recoverable=True)
        return {"ok": context.attempt}

    async def fatal(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        calls["fatal"] += 1
        raise NeuronError("bad request", code="BAD_REQUEST", recoverable=False)

    async def always(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        calls["always"] += 1
        raise NeuronError("still busy", code="UPSTREAM_BUSY", recoverable=True)

    await topo.build(Axon("flaky", flaky), Axon("fatal", fatal), Axon("always", always))
    seen: list[tuple[int, Any]] = []
    backoffs: list[int] = []

    def backoff(attempt: int) -> float:
        backoffs.append(attempt)
        return 0.0

    strategy = RetryStrategy(
        max_attempts=3, timeout_s=5.0, backoff=backoff, on_retry=lambda a, o: seen.append((a, o))
    )
    ok = await asyncio.wait_for(
        topo.api.run_with_retry(neuron="flaky", input={}, retry=strategy), HANG_GUARD_S
    )
    assert ok.type is SignalType.AGENT_OUTPUT and ok.payload["output"] == {"ok": 2}
    assert calls["flaky"] == 2
    assert len(seen) == 1 and seen[0][0] == 1
    assert isinstance(seen[0][1], Signal) and seen[0][1].payload["code"] == "UPSTREAM_BUSY"
    assert backoffs == [1]

    seen.clear()
    err = await asyncio.wait_for(
        topo.api.run_with_retry(neuron="fatal", input={}, retry=strategy), HANG_GUARD_S
    )
    assert err.type is SignalType.ERROR and err.payload["code"] == "BAD_REQUEST"
    assert calls["fatal"] == 1 and seen == []  # returned at once, not retried

    last = await asyncio.wait_for(
        topo.api.run_with_retry(neuron="always", input={}, retry=strategy), HANG_GUARD_S
    )
    assert last.type is SignalType.ERROR and last.payload["recoverable"] is True
    assert last.meta["attempt"] == 3
    assert calls["always"] == 3
    assert [a for a, _ in seen] == [1, 2]


async def test_retry_on_the_same_trace_keeps_the_trace(topo: Topology) -> None:
    calls = Calls()
    await topo.build(Axon("generator", make_generator(calls, stall_first=1)))
    trace_id = new_trace_id()
    sig = await asyncio.wait_for(
        topo.api.run_with_retry(
            neuron="generator",
            input={"question": "q"},
            trace_id=trace_id,
            retry=RetryStrategy(max_attempts=2, timeout_s=0.5, new_trace=False),
        ),
        HANG_GUARD_S,
    )
    # Attempt 1 was stopped (STOP bounded to attempt 1), attempt 2 ran on the same trace.
    assert sig.type is SignalType.AGENT_OUTPUT and sig.trace_id == trace_id
    assert sig.meta["attempt"] == 2
    await eventually(lambda: calls.cancelled == [trace_id])
    assert calls.started == [trace_id, trace_id]


def test_retry_strategy_validation_and_defaults() -> None:
    strategy = RetryStrategy()
    assert (strategy.max_attempts, strategy.timeout_s, strategy.new_trace) == (3, None, True)
    # Each attempt waits as long as the call (30 s when the call sets no timeout).
    assert strategy.attempt_timeout(None) == 30.0
    assert strategy.attempt_timeout(4.5) == 4.5
    assert RetryStrategy(timeout_s=0.5).attempt_timeout(4.5) == 0.5
    assert strategy.should_retry(TimeoutError())
    with pytest.raises(ValueError):
        RetryStrategy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryStrategy(timeout_s=0)
    custom = RetryStrategy(retry_on=lambda outcome: False)
    assert not custom.should_retry(TimeoutError())


# -- saga rollback -------------------------------------------------------------------------


async def test_a_crash_after_3_chunks_rolls_back_to_nothing(topo: Topology) -> None:
    await topo.build(ingester())
    assert len(topo.engram) == 0
    reply = await asyncio.wait_for(
        topo.api.dispatch_and_wait(
            neuron="ingester",
            input={"doc_id": "doc-1", "text": TEXT, "fail_after": 3},
            timeout_s=HANG_GUARD_S,
        ),
        HANG_GUARD_S,
    )
    trace_id = reply.trace_id
    assert reply.type is SignalType.ERROR
    assert "crashed after 3 chunks" in reply.payload["message"]
    assert len(topo.engram) == 3  # the partial write
    assert topo.engram.journal_size(trace_id) == 3  # ERROR keeps the journal

    # Every stakeholder (the worker that ran it, the engram host that journaled it)
    # acks well before the 30 s timeout; the hang guard turns "waited it out" into a failure.
    acks = await asyncio.wait_for(
        topo.api.stop_trace(trace_id, rollback=True, collect_acks=True, timeout_s=30.0),
        HANG_GUARD_S,
    )
    assert len(topo.engram) == 0
    assert sum(a.payload.get("compensated", 0) for a in acks) == 3
    by_node = {a.payload["node"]: a for a in acks}
    assert {"worker", "engram-host"} <= set(by_node)
    assert by_node["engram-host"].payload == {
        "node": "engram-host",
        "rolled_back": True,
        "cancelled": 0,
        "compensated": 3,
    }
    assert all(a.parent_id == topo.recorder.of(SignalType.STOP)[0].id for a in acks)
    assert all(a.neuron == a.payload["node"] for a in acks)

    # STOP is idempotent: nothing is compensated twice.
    await topo.api.stop_trace(trace_id, rollback=True)
    await topo.fence_stops()
    assert sum(a.payload["compensated"] for a in topo.host_acks(trace_id)) == 3
    assert len(topo.engram) == 0


async def test_a_finalized_workflow_is_not_rolled_back_by_a_later_stop(topo: Topology) -> None:
    await topo.build(ingester())
    final = await asyncio.wait_for(
        topo.api.dispatch_and_wait(
            neuron="ingester",
            input={"doc_id": "d", "text": TEXT},
            finalize=True,
            timeout_s=HANG_GUARD_S,
        ),
        HANG_GUARD_S,
    )
    chunks = len(chunk_text(TEXT))
    assert final.type is SignalType.FINAL
    assert final.payload["result"] == {"doc_id": "d", "chunks": chunks}
    assert len(topo.engram) == chunks
    # STOP right away, with no wait for the FINAL to have reached the engram host.
    await topo.api.stop_trace(final.trace_id, rollback=True)
    await topo.fence_stops()
    assert len(topo.engram) == chunks
    assert sum(a.payload["compensated"] for a in topo.host_acks(final.trace_id)) == 0
    assert topo.engram.journal_size(final.trace_id) == 0


async def test_emit_final_commits_the_journal(topo: Topology) -> None:
    await topo.build(ingester())
    reply = await asyncio.wait_for(
        topo.api.dispatch_and_wait(
            neuron="ingester", input={"doc_id": "d", "text": TEXT}, timeout_s=HANG_GUARD_S
        ),
        HANG_GUARD_S,
    )
    assert reply.type is SignalType.AGENT_OUTPUT
    assert topo.engram.journal_size(reply.trace_id) == len(chunk_text(TEXT))
    await topo.api.emit_final(trace_id=reply.trace_id, parent_id=reply.id, result={"ok": True})
    await eventually(lambda: topo.engram.journal_size(reply.trace_id) == 0)
    await topo.api.stop_trace(reply.trace_id, rollback=True)
    await topo.fence_stops()
    assert len(topo.engram) == len(chunk_text(TEXT))


async def test_stop_without_rollback_discards_the_journal(topo: Topology) -> None:
    await topo.build(ingester())
    reply = await asyncio.wait_for(
        topo.api.dispatch_and_wait(
            neuron="ingester",
            input={"doc_id": "d", "text": TEXT, "fail_after": 2},
            timeout_s=HANG_GUARD_S,
        ),
        HANG_GUARD_S,
    )
    acks = await asyncio.wait_for(
        topo.api.stop_trace(reply.trace_id, collect_acks=True, timeout_s=30.0), HANG_GUARD_S
    )
    assert {"worker", "engram-host"} <= {a.payload["node"] for a in acks}
    assert all(a.payload["rolled_back"] is False for a in acks)
    assert len(topo.engram) == 2 and topo.engram.journal_size(reply.trace_id) == 0
    # A later rollback has nothing left to undo.
    await topo.api.stop_trace(reply.trace_id, rollback=True)
    await topo.fence_stops()
    assert sum(a.payload["compensated"] for a in topo.host_acks(reply.trace_id)) == 0
    assert len(topo.engram) == 2


# -- STOP ----------------------------------------------------------------------------------


async def test_stopped_names_the_dendrite_and_counts_cancelled(topo: Topology) -> None:
    calls = Calls()
    await topo.build(Axon("generator", make_generator(calls, stall_first=99)))
    trace_id = new_trace_id()
    for _ in range(2):
        await topo.api.dispatch_task(neuron="generator", input={"question": "q"}, trace_id=trace_id)
    await eventually(lambda: len(calls.started) == 2)
    await topo.api.stop_trace(trace_id, reason="user cancel")

    def worker_acks() -> list[Signal]:
        return [
            a
            for a in topo.recorder.of(SignalType.STOPPED, trace_id=trace_id)
            if a.payload["node"] == "worker"
        ]

    await eventually(lambda: len(worker_acks()) == 1)
    stop = topo.recorder.of(SignalType.STOP, trace_id=trace_id)[0]
    assert stop.payload == {"rollback": False, "reason": "user cancel"}
    assert stop.neuron == "api"
    ack = worker_acks()[0]
    assert ack.type is SignalType.STOPPED and ack.parent_id == stop.id
    assert ack.payload == {"node": "worker", "rolled_back": False, "cancelled": 2, "compensated": 0}
    await eventually(lambda: sorted(calls.cancelled) == [trace_id, trace_id])


async def test_a_late_reply_after_stop_is_never_delivered(topo: Topology) -> None:
    calls = Calls()
    await topo.build(Axon("generator", make_generator(calls, stall_first=99)))
    heard: list[Signal] = []
    observer = Dendrite(
        synapse=await topo.bus.connect(),
        namespace=NS,
        dendrite_id="observer",
        role="worker",
        heartbeat_s=0,
    )

    @topo.api.on_agent_output
    async def _api_heard(sig: Signal) -> None:
        heard.append(sig)

    @topo.api.on_error_signal
    async def _api_heard_error(sig: Signal) -> None:
        heard.append(sig)

    @observer.on_agent_output
    async def _observer_heard(sig: Signal) -> None:
        heard.append(sig)

    topo.dendrites.append(observer)
    await observer.start()
    stopped_trace = new_trace_id()
    task = await topo.api.dispatch_task(
        neuron="generator", input={"question": "q"}, trace_id=stopped_trace
    )
    await eventually(lambda: calls.started == [stopped_trace])
    await topo.api.stop_trace(stopped_trace)
    await eventually(lambda: calls.cancelled == [stopped_trace])
    await eventually(lambda: observer._traces.stopped(stopped_trace))
    # A peer that missed the STOP (or ignores it) answers late, straight onto the bus.
    raw = await topo.bus.connect()
    late = agent_output_signal(task, output={"late": True}, producer="generator")
    await raw.publish(f"cosmonapse.{NS}.AGENT_OUTPUT", late.encode())
    # Fence: an output on a live trace, published after the late one, reaches both.
    fence = agent_output_signal(
        await topo.api.dispatch_task(neuron="nobody", input={}),
        output={"fence": True},
        producer="x",
    )
    await raw.publish(f"cosmonapse.{NS}.AGENT_OUTPUT", fence.encode())
    await eventually(lambda: sum(s.id == fence.id for s in heard) == 2)
    assert all(s.trace_id != stopped_trace for s in heard)
    assert topo.api.stats["suppressed"] >= 1 and observer.stats["suppressed"] >= 1


async def test_a_neuron_that_swallows_cancellation_cannot_publish(topo: Topology) -> None:
    started = asyncio.Event()
    swallowed: list[str] = []

    async def stubborn(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.append(context.trace_id)  # and returns anyway: a badly written Neuron
        return {"late": True}

    await topo.build(Axon("stubborn", stubborn))
    heard: list[Signal] = []

    @topo.api.on_agent_output
    async def _heard(sig: Signal) -> None:
        heard.append(sig)

    trace_id = new_trace_id()
    await topo.api.dispatch_task(neuron="stubborn", input={}, trace_id=trace_id)
    await asyncio.wait_for(started.wait(), HANG_GUARD_S)
    await topo.api.stop_trace(trace_id)
    await eventually(lambda: swallowed == [trace_id])
    await eventually(lambda: topo.worker.stats["suppressed"] >= 1, what="late reply suppressed")
    assert topo.recorder.of(SignalType.AGENT_OUTPUT, trace_id=trace_id) == []
    assert heard == []


async def test_stop_drops_tasks_queued_behind_max_concurrency(topo: Topology) -> None:
    ran: list[str] = []
    release = asyncio.Event()

    async def blocking(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        ran.append(context.trace_id)
        if input.get("block"):
            await release.wait()
        return {}

    await topo.build(Axon("blocking", blocking), worker_options={"max_concurrency": 1})
    busy, doomed, after = new_trace_id(), new_trace_id(), new_trace_id()
    await topo.api.dispatch_task(neuron="blocking", input={"block": True}, trace_id=busy)
    await eventually(lambda: ran == [busy])
    for _ in range(2):
        await topo.api.dispatch_task(neuron="blocking", input={}, trace_id=doomed)
    await eventually(lambda: topo.worker.stats["in_flight"] == 3, what="two TASKs queued")
    await topo.api.stop_trace(doomed)

    def worker_acks() -> list[Signal]:
        acks = topo.recorder.of(SignalType.STOPPED, trace_id=doomed)
        return [a for a in acks if a.payload["node"] == "worker"]

    await eventually(lambda: len(worker_acks()) == 1)
    assert worker_acks()[0].payload["cancelled"] == 2
    # A TASK of the stopped trace sent later is dropped too (the sender does not send it).
    await topo.api.dispatch_task(neuron="blocking", input={}, trace_id=doomed)
    release.set()
    reply = await asyncio.wait_for(
        topo.api.dispatch_and_wait(
            neuron="blocking", input={}, trace_id=after, timeout_s=HANG_GUARD_S
        ),
        HANG_GUARD_S,
    )
    assert reply.type is SignalType.AGENT_OUTPUT
    assert ran == [busy, after]  # the queued TASKs of the stopped trace never ran
    await eventually(lambda: len(topo.recorder.of(SignalType.TASK, trace_id=after)) == 1)
    assert len(topo.recorder.of(SignalType.TASK, trace_id=doomed)) == 2


async def test_waiting_on_a_trace_that_gets_stopped_raises(topo: Topology) -> None:
    calls = Calls()
    await topo.build(Axon("generator", make_generator(calls, stall_first=99)))
    trace_id = new_trace_id()
    waiting = asyncio.ensure_future(
        topo.api.dispatch_and_wait(
            neuron="generator", input={"question": "q"}, trace_id=trace_id, timeout_s=HANG_GUARD_S
        )
    )
    await eventually(lambda: calls.started == [trace_id])
    await topo.api.stop_trace(trace_id)
    with pytest.raises(TraceStoppedError):
        await asyncio.wait_for(waiting, HANG_GUARD_S)
    await eventually(lambda: calls.cancelled == [trace_id])


async def test_stop_cancels_the_engram_writes_in_flight(topo: Topology) -> None:
    """A STOP mid-ingest: the Neuron is cancelled between writes, nothing more is written,
    and rollback undoes what was written."""
    gate = asyncio.Event()
    wrote: list[int] = []

    async def slow_ingest(
        input: dict[str, Any], context: NeuronContext, *, imprint: Any
    ) -> dict[str, Any]:
        for i in range(10):
            await imprint("vectors", op="add", entry={"i": i}, timeout_s=5.0)
            wrote.append(i)
            if i == 1:
                gate.set()
                await asyncio.sleep(3600)
        return {}

    bind = EngramBinding(name="vectors", directed_id="retry-vectors")
    await topo.build(Axon("slow", slow_ingest, engrams=[bind]))
    trace_id = new_trace_id()
    await topo.api.dispatch_task(neuron="slow", input={}, trace_id=trace_id)
    await asyncio.wait_for(gate.wait(), HANG_GUARD_S)
    assert len(topo.engram) == 2
    await topo.api.stop_trace(trace_id, rollback=True)
    await topo.fence_stops()
    assert sum(a.payload["compensated"] for a in topo.host_acks(trace_id)) == 2
    await eventually(
        lambda: any(
            a.payload["node"] == "worker" and a.payload["cancelled"] == 1
            for a in topo.recorder.of(SignalType.STOPPED, trace_id=trace_id)
        ),
        what="the worker acked one cancelled run",
    )
    assert len(topo.engram) == 0
    assert wrote == [0, 1]


async def test_dispatching_on_a_stopped_trace_fails_at_once(topo: Topology) -> None:
    """The TASK of a stopped trace is never sent, so waiting for its reply is pointless."""
    calls = Calls()
    await topo.build(Axon("generator", make_generator(calls, stall_first=0)))
    trace_id = new_trace_id()
    await topo.api.stop_trace(trace_id)
    with pytest.raises(TraceStoppedError):
        await asyncio.wait_for(
            topo.api.dispatch_and_wait(
                neuron="generator", input={"question": "q"}, trace_id=trace_id, timeout_s=30.0
            ),
            HANG_GUARD_S,
        )
    assert calls.started == []


async def test_finalize_on_a_failing_neuron_returns_the_error(topo: Topology) -> None:
    await topo.build(ingester())
    reply = await asyncio.wait_for(
        topo.api.dispatch_and_wait(
            neuron="ingester",
            input={"doc_id": "d", "text": TEXT, "fail_after": 1},
            finalize=True,
            timeout_s=HANG_GUARD_S,
        ),
        HANG_GUARD_S,
    )
    assert reply.type is SignalType.ERROR  # terminal: no FINAL follows an ERROR
    assert topo.engram.journal_size(reply.trace_id) == 1  # and the journal is kept
