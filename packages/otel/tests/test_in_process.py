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
    async with asyncio.timeout(DEADLINE_S):
        while not check():
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
