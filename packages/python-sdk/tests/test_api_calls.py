"""The calls a user meets: what dispatch_and_wait, stop_trace, attach_* and subscribe hand
back, and the deprecated forms that still work (each with a CosmonapseDeprecationWarning)."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
from cosmonapse import (
    Attachment,
    Axon,
    CosmonapseDeprecationWarning,
    CosmonapseTimeoutError,
    Dendrite,
    DispatchTimeoutError,
    EngramTimeoutError,
    HandlerSubscription,
    InMemoryEngram,
    MemorySynapse,
    NeuronError,
    Reply,
    Signal,
    SignalType,
    StopResult,
    SynapseClosedError,
    TaskFailedError,
    new_trace_id,
)

from .conftest import eventually, record

NS = "api-calls"


async def echo(input: dict[str, Any], context: Any) -> dict[str, Any]:
    if input.get("fail"):
        raise NeuronError("the upstream said no", code="UPSTREAM_NO", recoverable=True)
    return {"echo": input.get("text")}


def pair(synapse: MemorySynapse) -> tuple[Dendrite, Dendrite]:
    worker = Dendrite(synapse=synapse, namespace=NS, dendrite_id="w", role="worker", heartbeat_s=0)
    caller = Dendrite(synapse=synapse, namespace=NS, dendrite_id="caller", heartbeat_s=0)
    return worker, caller


# -- Reply -------------------------------------------------------------------------------


async def test_a_reply_is_the_signal_with_typed_shortcuts(memory: MemorySynapse) -> None:
    worker, caller = pair(memory)
    worker.attach_axon(Axon("echo", echo))
    async with worker, caller:
        reply = await caller.dispatch_and_wait(neuron="echo", input={"text": "hi"})
    assert isinstance(reply, Reply) and isinstance(reply, Signal)
    assert reply.type is SignalType.AGENT_OUTPUT and reply.ok
    # The Signal's own fields, as the seeds read them ...
    assert reply.neuron == "echo" and reply.payload["output"] == {"echo": "hi"}
    # ... and the shortcuts.
    assert reply.output == {"echo": "hi"}
    assert reply.producer == "echo" and reply.node == "w"
    assert reply.elapsed_s is not None and 0 <= reply.elapsed_s < 60
    assert reply.raise_for_error() is reply and reply.error is None
    plain = Signal.decode(reply.encode())
    assert reply == plain and Reply.of(plain) == reply
    assert "echo" in repr(reply)


async def test_an_error_reply_is_returned_and_raise_for_error_raises_it(
    memory: MemorySynapse,
) -> None:
    worker, caller = pair(memory)
    worker.attach_axon(Axon("echo", echo))
    async with worker, caller:
        reply = await caller.dispatch_and_wait(neuron="echo", input={"fail": True})
    assert reply.type is SignalType.ERROR and not reply.ok
    with pytest.raises(TaskFailedError) as info:
        reply.raise_for_error()
    error = info.value
    assert (error.code, error.recoverable, error.producer) == ("UPSTREAM_NO", True, "echo")
    assert error.message == "the upstream said no" and error.trace_id == reply.trace_id
    assert error.reply is reply
    assert str(error) == "UPSTREAM_NO from 'echo': the upstream said no"
    with pytest.raises(TaskFailedError, match="UPSTREAM_NO"):
        _ = reply.output  # an ERROR has no output
    assert reply.payload["code"] == "UPSTREAM_NO"  # the Signal is still all there


async def test_a_finalized_reply_outputs_the_final_result(memory: MemorySynapse) -> None:
    worker, caller = pair(memory)
    worker.attach_axon(Axon("echo", echo))
    async with worker, caller:
        reply = await caller.dispatch_and_wait(neuron="echo", input={"text": "x"}, finalize=True)
    assert reply.type is SignalType.FINAL and reply.output == {"echo": "x"}


async def test_retry_returns_a_reply_too(memory: MemorySynapse) -> None:
    worker, caller = pair(memory)
    worker.attach_axon(Axon("echo", echo))
    async with worker, caller:
        reply = await caller.run_with_retry(neuron="echo", input={"text": "r"})
    assert isinstance(reply, Reply) and reply.output == {"echo": "r"}


def test_every_timeout_shares_one_base() -> None:
    for cls in (DispatchTimeoutError, EngramTimeoutError):
        assert issubclass(cls, CosmonapseTimeoutError) and issubclass(cls, TimeoutError)
    error = TaskFailedError("m", code="C", recoverable=False, trace_id="t")
    assert isinstance(pickle.loads(pickle.dumps(DispatchTimeoutError("x"))), TimeoutError)
    assert str(error) == "C: m"


# -- stop_trace -------------------------------------------------------------------------


async def test_stop_trace_returns_what_the_stop_did(memory: MemorySynapse) -> None:
    started = asyncio.Event()

    async def slow(input: dict[str, Any], context: Any) -> dict[str, Any]:
        started.set()
        await asyncio.Event().wait()
        return {}

    worker, caller = pair(memory)
    worker.attach_axon(Axon("slow", slow))
    worker.attach_axon(Axon("echo", echo))
    async with worker, caller:
        trace = new_trace_id()
        await caller.dispatch_task(neuron="slow", input={}, trace_id=trace)
        await asyncio.wait_for(started.wait(), 10)
        result = await caller.stop_trace(trace, reason="enough", collect_acks=True, timeout_s=5)
        assert isinstance(result, StopResult)
        assert result.stop.type is SignalType.STOP and result.trace_id == trace
        assert result.stop.payload["reason"] == "enough"
        # the caller took part (it dispatched the TASK) and acks too, with nothing cancelled
        assert sorted(result.nodes) == ["caller", "w"]
        assert result.cancelled == 1 and result.compensated == 0
        # The caller never heard from "w" on that trace, so it cannot know the acks are all in.
        assert not result.complete
        answered = await caller.dispatch_and_wait(neuron="echo", input={})
        known = await caller.stop_trace(answered.trace_id, collect_acks=True, timeout_s=30)
        assert known.complete and "w" in known.nodes  # returned at the ack, not at 30 s
        # It is also the sequence of acks that earlier versions returned.
        assert len(result) == 2 and list(result) == [result[0], result[1]]
        assert result == [result[0], result[1]]
        quiet = await caller.stop_trace(new_trace_id())
        assert quiet == [] and quiet.acks == () and not quiet.complete


async def test_stop_trace_positional_options_still_work_with_a_warning(
    memory: MemorySynapse,
) -> None:
    heard = await record(memory, NS)
    _, caller = pair(memory)
    async with caller:
        trace = new_trace_id()
        with pytest.warns(CosmonapseDeprecationWarning, match="rollback, reason by keyword"):
            result = await caller.stop_trace(trace, True, "old style")  # type: ignore[misc]
        assert result.stop.payload == {"rollback": True, "reason": "old style"}
        with pytest.raises(TypeError, match="positional"):
            await caller.stop_trace(trace, True, None, False, 1.0, "extra")
        await eventually(lambda: any(s.id == result.stop.id for s in heard), what="STOP out")


async def test_emit_stop_still_works_with_a_warning(memory: MemorySynapse) -> None:
    heard = await record(memory, NS)
    _, caller = pair(memory)
    async with caller:
        with pytest.warns(CosmonapseDeprecationWarning, match="emit_stop"):
            stop = await caller.emit_stop(new_trace_id(), rollback=True)
        assert stop.type is SignalType.STOP and stop.payload["rollback"] is True
        await eventually(lambda: any(s.id == stop.id for s in heard), what="STOP out")


async def test_stop_takes_a_timeout_in_seconds(memory: MemorySynapse) -> None:
    worker, _ = pair(memory)
    await worker.start()
    with pytest.raises(ValueError, match="timeout_s"):
        await worker.stop(timeout_s=-1)
    await worker.stop(timeout_s=0.5)
    assert not worker.started


# -- attach / detach ---------------------------------------------------------------------


async def test_attach_on_a_running_dendrite_is_awaitable(memory: MemorySynapse) -> None:
    heard = await record(memory, NS)
    worker, caller = pair(memory)
    async with worker, caller:
        axon = Axon("late", echo)
        attachment = worker.attach_axon(axon)
        assert isinstance(attachment, Attachment) and attachment.participant is axon
        assert await attachment is axon
        assert attachment.ready
        # Subscribed and announced by the time the await returns.
        assert any(s.type is SignalType.REGISTER and s.neuron == "late" for s in heard)
        reply = await caller.dispatch_and_wait(neuron="late", input={"text": "now"}, timeout_s=5)
        assert reply.output == {"echo": "now"}
        engram = InMemoryEngram("late-notes")
        assert await worker.attach_engram(engram) is engram


async def test_attach_before_start_awaits_at_once() -> None:
    worker, _ = pair(MemorySynapse())
    axon = Axon("early", echo)
    attachment = worker.attach_axon(axon)
    assert attachment.ready and await attachment is axon


async def test_a_failed_attach_raises_when_awaited(memory: MemorySynapse) -> None:
    worker, _ = pair(memory)
    async with worker:
        await memory.close()
        with pytest.raises(SynapseClosedError):
            await worker.attach_axon(Axon("doomed", echo))


async def test_detach_stops_hosting(memory: MemorySynapse) -> None:
    heard = await record(memory, NS)
    ran: list[str] = []

    async def note(input: dict[str, Any], context: Any) -> dict[str, Any]:
        ran.append(context.neuron_id)
        return {}

    worker, caller = pair(memory)
    gone = worker.attach_axon(Axon("gone", note, capabilities=["gone-cap"]))
    worker.attach_axon(Axon("kept", note))
    async with worker, caller:
        await gone.detach()
        await gone.detach()  # idempotent
        await eventually(
            lambda: (
                [s.payload.get("reason") for s in heard if s.type is SignalType.DEREGISTER]
                == ["detached"]
            ),
            what="DEREGISTER of the detached Axon",
        )
        await caller.dispatch_task(neuron="gone", input={})
        # A later TASK on the same worker is answered, so the earlier one was looked at.
        await caller.dispatch_and_wait(neuron="kept", input={}, timeout_s=5)
    assert ran == ["kept"]


async def test_reading_the_participant_off_the_attachment_is_deprecated() -> None:
    worker, _ = pair(MemorySynapse())
    attachment = worker.attach_axon(Axon("old", echo))
    with pytest.warns(CosmonapseDeprecationWarning, match="participant"):
        assert attachment.neuron_id == "old"


# -- subscribe ---------------------------------------------------------------------------


async def test_subscribe_returns_a_handle_that_unsubscribes(memory: MemorySynapse) -> None:
    worker, caller = pair(memory)
    worker.attach_axon(Axon("echo", echo))
    first: list[str] = []
    later = asyncio.Event()

    async def on_output(signal: Signal) -> None:
        first.append(signal.payload["output"]["echo"])

    async def on_later(signal: Signal) -> None:
        if signal.payload["output"]["echo"] == "b":
            later.set()

    async with worker, caller:
        handle = await caller.subscribe(SignalType.AGENT_OUTPUT, on_output)
        assert isinstance(handle, HandlerSubscription) and handle.transport is None
        await caller.dispatch_and_wait(neuron="echo", input={"text": "a"})
        await eventually(lambda: first == ["a"], what="handler called")
        await handle.unsubscribe()
        await handle.unsubscribe()  # idempotent
        await caller.subscribe(SignalType.AGENT_OUTPUT, on_later)
        await caller.dispatch_and_wait(neuron="echo", input={"text": "b"})
        await asyncio.wait_for(later.wait(), 10)  # "b" reached the handlers ...
    assert first == ["a"]  # ... but not the unsubscribed one


async def test_a_queue_group_handle_owns_its_transport_subscription(
    memory: MemorySynapse,
) -> None:
    _, caller = pair(memory)
    async with caller:

        async def ignore(signal: Signal) -> None:
            return None

        handle = await caller.subscribe(SignalType.TASK, ignore, queue_group="pool")
        assert handle.queue_group == "pool" and handle.transport is not None
        assert handle.subject.endswith(".TASK")
        await handle.unsubscribe()


# -- counters ----------------------------------------------------------------------------


async def test_counters_are_read_only(memory: MemorySynapse) -> None:
    worker, caller = pair(memory)
    worker.attach_axon(Axon("echo", echo))
    async with worker, caller:
        await caller.dispatch_and_wait(neuron="echo", input={})
        assert caller.counters["published"] >= 1
        with pytest.raises(TypeError):
            caller.counters["published"] = 0  # type: ignore[index]
        snapshot = caller.stats
        snapshot["published"] = -1
        assert caller.counters["published"] >= 1
    assert not hasattr(caller, "engram_request")  # plumbing, not API
