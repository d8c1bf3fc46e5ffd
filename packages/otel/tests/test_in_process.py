"""One process, the memory synapse, an in-memory exporter: the spans, their ids and
parents, GenAI attributes, ERROR status, STOP events and the retry link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, MemorySynapse, RetryStrategy
from cosmonapse_otel import TracedSynapse, otel_span_id, otel_trace_id, traced
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

NS = "otel-unit"
DEADLINE_S = 20.0


async def eventually(check: Any, what: str) -> None:
    """Poll ``check`` until it is true; fail (not hang) past the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Rig:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.bus: TracedSynapse = traced(
            MemorySynapse(), service_name="unit", tracer_provider=self.provider
        )

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        await r.bus.close()


async def planner(input: dict[str, Any], context: Any, *, call: Any) -> Any:
    context.report_tokens(7)
    return {"facts": await call(neuron="researcher", input={"topic": input["topic"]})}


async def researcher(input: dict[str, Any], context: Any) -> Any:
    context.report_tokens(5)
    return {"fact": input["topic"].upper()}


async def broken(input: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("no luck")


async def test_delegation_tree_and_genai_attributes(rig: Rig) -> None:
    worker = Dendrite(synapse=rig.bus, namespace=NS, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("planner", planner))
    worker.attach_axon(Axon("researcher", researcher))
    async with worker, Dendrite(synapse=rig.bus, namespace=NS, heartbeat_s=0) as api:
        reply = await api.dispatch_and_wait(neuron="planner", input={"topic": "x"}, timeout_s=10)
        assert reply.ok
        await eventually(lambda: len(rig.spans()) >= 4, "four spans")
    [root] = rig.named("dispatch planner")
    [run] = rig.named("invoke_agent planner")
    [child] = rig.named("dispatch researcher")
    [child_run] = rig.named("invoke_agent researcher")
    trace_id = otel_trace_id(reply.trace_id)
    for span in (root, run, child, child_run):
        assert span.context is not None and span.context.trace_id == trace_id
    task_id = root.attributes["cosmonapse.signal_id"]
    assert root.parent is None and root.kind is SpanKind.CLIENT
    assert root.context.span_id == otel_span_id(task_id, "dispatch")
    assert run.parent is not None and run.parent.span_id == root.context.span_id
    assert run.context.span_id == otel_span_id(task_id, "run")
    assert run.kind is SpanKind.SERVER
    assert child.parent is not None and child.parent.span_id == run.context.span_id
    assert child_run.parent is not None and child_run.parent.span_id == child.context.span_id
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "planner"
    assert run.attributes["gen_ai.usage.total_tokens"] == 7
    assert child_run.attributes["gen_ai.usage.total_tokens"] == 5
    assert child.attributes["cosmonapse.depth"] == 1
    assert child.attributes["cosmonapse.caller"] == "planner"
    assert root.start_time <= run.start_time <= run.end_time <= root.end_time


async def test_an_error_reply_sets_status_error(rig: Rig) -> None:
    worker = Dendrite(synapse=rig.bus, namespace=NS, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("broken", broken))
    async with worker, Dendrite(synapse=rig.bus, namespace=NS, heartbeat_s=0) as api:
        reply = await api.dispatch_and_wait(neuron="broken", input={}, timeout_s=10)
        assert not reply.ok
        await eventually(lambda: len(rig.spans()) >= 2, "two spans")
    for name in ("dispatch broken", "invoke_agent broken"):
        [span] = rig.named(name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == reply.payload["code"]
        assert "no luck" in (span.status.description or "")


async def test_a_retry_links_to_the_first_attempt_and_the_stop_is_an_event(rig: Rig) -> None:
    calls = 0

    async def flaky(input: dict[str, Any], context: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # stalls until the retry STOPs it
        return {"ok": True}

    worker = Dendrite(synapse=rig.bus, namespace=NS, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("flaky", flaky))
    async with worker, Dendrite(synapse=rig.bus, namespace=NS, heartbeat_s=0) as api:
        reply = await api.run_with_retry(
            neuron="flaky", input={}, retry=RetryStrategy(max_attempts=2, timeout_s=0.5)
        )
        assert reply.ok
        await eventually(lambda: len(rig.named("invoke_agent flaky")) >= 2, "two runs")
    first, second = sorted(rig.named("invoke_agent flaky"), key=lambda s: s.start_time)
    assert first.context.trace_id != second.context.trace_id
    assert [e.name for e in first.events] == ["cosmonapse.stop", "cosmonapse.stopped"]
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["cosmonapse.stopped"] is True
    dispatches = sorted(rig.named("dispatch flaky"), key=lambda s: s.start_time)
    assert len(dispatches) == 2
    [link] = dispatches[1].links
    assert link.context.trace_id == first.context.trace_id
    assert link.context.span_id == dispatches[0].context.span_id
    assert dispatches[0].events[0].name == "cosmonapse.stop"


async def test_imprint_recall_spans_and_a_rollback_under_the_stop_span(rig: Rig) -> None:
    from cosmonapse import EngramBinding, InMemoryEngram

    async def remember(input: dict[str, Any], context: Any, *, recall: Any, imprint: Any) -> Any:
        await recall("notes", query={"key": "k"})
        await imprint("notes", op="upsert", entry={"key": "k", "v": 1}, merge_key="k")
        return {"ok": True}

    def rolled_back() -> list[ReadableSpan]:
        return [
            s
            for s in rig.spans()
            if s.name.startswith("stopped") and s.events[0].attributes["cosmonapse.compensated"]
        ]

    worker = Dendrite(synapse=rig.bus, namespace=NS, role="worker", heartbeat_s=0)
    notes = [EngramBinding(name="notes", directed_id="notes")]
    worker.attach_axon(Axon("remember", remember, engrams=notes))
    host = Dendrite(synapse=rig.bus, namespace=NS, role="worker", heartbeat_s=0)
    host.attach_engram(InMemoryEngram(engram_id="notes"))
    async with host, worker, Dendrite(synapse=rig.bus, namespace=NS, heartbeat_s=0) as api:
        reply = await api.dispatch_and_wait(neuron="remember", input={}, timeout_s=10)
        assert reply.ok, reply.payload
        await eventually(lambda: len(rig.spans()) >= 4, "four spans")
        result = await api.stop_trace(reply.trace_id, rollback=True, collect_acks=True, timeout_s=2)
        assert any(a.payload.get("compensated") == 1 for a in result.acks)
        await eventually(lambda: rig.named("stop") and rolled_back(), "the rollback's span")
    [run] = rig.named("invoke_agent remember")
    [recall] = rig.named("recall notes")
    [imprint] = rig.named("imprint notes")
    for span in (recall, imprint):
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None and span.parent.span_id == run.context.span_id
        assert span.attributes["cosmonapse.engram"] == "notes"
    assert imprint.attributes["cosmonapse.imprint.op"] == "upsert"
    assert recall.attributes["cosmonapse.recall.hits"] == 0
    [stop] = rig.named("stop")
    [stopped] = rolled_back()
    assert stopped.parent is not None and stopped.parent.span_id == stop.context.span_id
    assert stop.parent is not None  # under the trace's root dispatch
    assert stop.parent.span_id == rig.named("dispatch remember")[0].context.span_id
    [event] = stopped.events
    assert event.name == "cosmonapse.stopped"
    assert event.attributes["cosmonapse.compensated"] == 1
    assert event.attributes["cosmonapse.rolled_back"] is True


async def test_the_otel_url_scheme_wraps_the_transport() -> None:
    from cosmonapse import connect_synapse

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = await connect_synapse("otel+memory://", tracer_provider=provider, service_name="u")
    assert isinstance(bus, TracedSynapse) and bus.url == "memory://"
    worker = Dendrite(synapse=bus, namespace=NS, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("researcher", researcher))
    async with bus, worker, Dendrite(synapse=bus, namespace=NS, heartbeat_s=0) as api:
        assert (await api.dispatch_and_wait(neuron="researcher", input={"topic": "a"})).ok
        await eventually(lambda: len(exporter.get_finished_spans()) >= 2, "two spans")
    assert {s.name for s in exporter.get_finished_spans()} == {
        "dispatch researcher",
        "invoke_agent researcher",
    }


async def test_frames_that_are_not_signals_pass_through_untraced(rig: Rig) -> None:
    got: list[bytes] = []

    async def hear(subject: str, data: bytes) -> None:
        got.append(data)

    await rig.bus.subscribe("cosmonapse.x.TASK", hear)
    await rig.bus.publish("cosmonapse.x.TASK", b"not json")
    await eventually(lambda: got == [b"not json"], "the frame")
    assert rig.spans() == []


async def test_a_provider_that_is_not_the_sdks_is_refused() -> None:
    from opentelemetry.trace import NoOpTracerProvider

    with pytest.raises(TypeError, match="SDK"):
        traced(MemorySynapse(), service_name="x", tracer_provider=NoOpTracerProvider())


async def test_a_publish_that_fails_ends_its_dispatch_span_with_an_error(rig: Rig) -> None:
    from cosmonapse import SynapseClosedError
    from cosmonapse.builders import task_signal

    await rig.bus.inner.close()
    task = task_signal(input={}, neuron="nobody")
    with pytest.raises(SynapseClosedError):
        await rig.bus.publish(f"cosmonapse.{NS}.TASK", task.encode())
    [span] = rig.named("dispatch nobody")
    assert span.status.status_code is StatusCode.ERROR
    assert "not published" in (span.status.description or "")


async def test_the_hf_neurons_token_use_lands_in_the_genai_usage_attributes(rig: Rig) -> None:
    pytest.importorskip("cosmonapse_neuron_hf")
    from cosmonapse import Neuron
    from cosmonapse_neuron_hf.standin import StandInServer

    async with StandInServer() as standin:
        llm = Neuron(source="huggingface", endpoint=standin.url, model="m/x", use_chat_api=True)
        worker = Dendrite(synapse=rig.bus, namespace=NS, role="worker", heartbeat_s=0)
        worker.attach_axon(Axon("llm", llm))
        async with worker, Dendrite(synapse=rig.bus, namespace=NS, heartbeat_s=0) as api:
            reply = await api.dispatch_and_wait(neuron="llm", input={"prompt": "hi"}, timeout_s=30)
            assert reply.ok, reply.payload
            await eventually(lambda: len(rig.named("invoke_agent llm")) == 1, "the run")
    usage = reply.output["meta"]["usage"]
    [run] = rig.named("invoke_agent llm")
    assert run.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert run.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert run.attributes["gen_ai.response.model"] == reply.output["meta"]["model"]
