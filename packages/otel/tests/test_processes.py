"""The issue's done-when: a workflow across three processes on a real dev synapse (and on
a real nats-server), each with cosmonapse-otel on, exporting over real OTLP/HTTP (protobuf)
to a receiver this test runs. The caller (this process) retries a planner whose first
attempt stalls in a researcher two processes away; the collector must hold one trace per
attempt:

    attempt 2:  dispatch planner (caller, link -> attempt 1's dispatch)
                  invoke_agent planner (lab)
                    dispatch researcher (lab)
                      invoke_agent researcher (desk, gen_ai.usage.total_tokens = 11)
    attempt 1:  dispatch planner (caller, cosmonapse.stop event)
                  invoke_agent planner (lab, stop + stopped events)
                    dispatch researcher (lab, stop event)
                      invoke_agent researcher (desk, stop + stopped events)

The workers export only when they stop (their batch delay is a minute), so every worker
span the collector holds was flushed on SIGTERM. Every wait is on a condition, with a
deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from cosmonapse import Dendrite, RetryStrategy, connect_synapse
from cosmonapse_otel import otel_span_id, otel_trace_id, traced
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .conftest import OtlpReceiver, Received

NS = "otel-procs"
WORKER = Path(__file__).with_name("_procs") / "otel_worker.py"
DEADLINE_S = 60.0  # a hang guard for a loaded box, never a timing assertion
CLIENT, SERVER = 3, 2  # OTLP's SpanKind numbers
STATUS_ERROR = 2


class Worker:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.out = logs / f"{name}.out"
        self.err = logs / f"{name}.err"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = await asyncio.create_subprocess_exec(
                *self.args, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err, env=self.env
            )

    def said(self, text: str) -> bool:
        return text in self.out.read_text()

    def logs(self) -> str:
        return f"--- {self.name} stdout\n{self.out.read_text()}\n--- stderr\n{self.err.read_text()}"

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), DEADLINE_S)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def until(check: Any, what: str, workers: list[Worker]) -> None:
    """Poll ``check`` until it is true; fail with the workers' logs past the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"never saw {what}\n" + "\n".join(w.logs() for w in workers))
        await asyncio.sleep(0.02)


def tree(spans: list[Received]) -> str:
    """The spans as indented lines, one trace after the other (printed; see ``-s``)."""
    ids = {s.span_id for s in spans}
    lines: list[str] = []

    def walk(span: Received, depth: int) -> None:
        events = ", ".join(name for name, _ in span.events)
        links = ", ".join(f"link -> {t:032x}/{s:016x}" for t, s, _ in span.links)
        extras = "; ".join(x for x in (events, links) if x)
        lines.append(
            f"{'  ' * depth}{span.name} [{span.service}] {span.span_id:016x}"
            + (f" ({extras})" if extras else "")
        )
        for child in sorted(spans, key=lambda s: s.start_ns):
            if child.parent_span_id == span.span_id and child.trace_id == span.trace_id:
                walk(child, depth + 1)

    for root in sorted(spans, key=lambda s: s.start_ns):
        if root.parent_span_id is None or root.parent_span_id not in ids:
            lines.append(f"trace {root.trace_id:032x}")
            walk(root, 1)
    return "\n".join(lines)


def one(spans: list[Received], name: str, trace_id: int) -> Received:
    found = [s for s in spans if s.name == name and s.trace_id == trace_id]
    assert len(found) == 1, (name, [(s.name, s.service) for s in spans])
    return found[0]


async def test_one_workflow_across_processes_is_one_trace_per_attempt(
    otlp: OtlpReceiver, bus_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "60000",  # export on shutdown only
    }
    command = [sys.executable, str(WORKER), bus_url, NS]
    workers = [
        Worker(name, [*command, name, neuron], env, tmp_path)
        for name, neuron in (("lab", "planner"), ("desk", "researcher"))
    ]
    provider = TracerProvider(resource=Resource.create({"service.name": "caller"}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{otlp.endpoint}/v1/traces"), schedule_delay_millis=100
        )
    )
    try:
        for w in workers:
            await w.start()
        await until(lambda: all(w.said(f"{w.name} ready") for w in workers), "ready", workers)
        bus = traced(
            await connect_synapse(bus_url), service_name="caller", tracer_provider=provider
        )
        async with bus, Dendrite(synapse=bus, namespace=NS, heartbeat_s=0) as api:
            reply = await api.run_with_retry(
                neuron="planner",
                input={"topic": "otel"},
                retry=RetryStrategy(max_attempts=2, timeout_s=4.0, backoff=0.0),
            )
            assert reply.ok, reply.payload
            assert reply.output == {"plan": [{"fact": "OTEL"}]}
            await until(lambda: workers[1].said("cancelled"), "the stalled run cut", workers)
        for w in workers:
            assert await w.stop() == 0, w.logs()
            assert w.said(f"{w.name} flushed"), w.logs()

        second = otel_trace_id(reply.trace_id)
        expected = 9  # 4 spans per attempt, and the caller's STOP span
        await until(lambda: len(otlp.snapshot()) >= expected, f"{expected} spans", workers)
    finally:
        for w in workers:
            await w.kill()
        provider.shutdown()

    spans = otlp.snapshot()
    print(tree(spans))
    assert otlp.requests >= 3  # one process, one export at least: three processes
    root = one(spans, "dispatch planner", second)
    run = one(spans, "invoke_agent planner", second)
    child = one(spans, "dispatch researcher", second)
    child_run = one(spans, "invoke_agent researcher", second)
    # The tree: dispatch -> run -> delegated dispatch -> run, across three processes.
    assert (root.service, run.service, child.service, child_run.service) == (
        "caller",
        "lab",
        "lab",
        "desk",
    )
    assert root.parent_span_id is None and root.kind == CLIENT
    task_id = root.attributes["cosmonapse.signal_id"]
    assert root.span_id == otel_span_id(task_id, "dispatch")
    assert run.parent_span_id == root.span_id and run.kind == SERVER
    assert run.span_id == otel_span_id(task_id, "run")
    assert child.parent_span_id == run.span_id and child.kind == CLIENT
    assert child_run.parent_span_id == child.span_id and child_run.kind == SERVER
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "planner"
    assert child_run.attributes["gen_ai.agent.name"] == "researcher"
    assert child_run.attributes["gen_ai.usage.total_tokens"] == 11
    assert child.attributes["cosmonapse.depth"] == 1
    assert root.attributes["cosmonapse.attempt"] == 2
    assert all(s.status_code != STATUS_ERROR for s in (root, run, child, child_run))

    # The retry link: attempt 2's root dispatch names attempt 1's root dispatch.
    [(first, first_span, link_attrs)] = root.links
    assert link_attrs["cosmonapse.link"] == "retry_of"
    assert first != second
    first_root = one(spans, "dispatch planner", first)
    assert first_span == first_root.span_id and first_root.parent_span_id is None
    assert root.attributes["cosmonapse.retry_of"] == first_root.attributes["cosmonapse.trace_id"]

    # The STOP of attempt 1: events on the runs it cut in both workers, the same STOP.
    first_run = one(spans, "invoke_agent planner", first)
    first_child_run = one(spans, "invoke_agent researcher", first)
    assert first_run.parent_span_id == first_root.span_id
    assert one(spans, "dispatch researcher", first).parent_span_id == first_run.span_id
    stop_ids = set()
    for span in (first_run, first_child_run):
        names = [name for name, _ in span.events]
        assert names == ["cosmonapse.stop", "cosmonapse.stopped"], (span.name, span.events)
        stop_ids.add(span.events[0][1]["cosmonapse.stop_id"])
        assert span.events[1][1]["cosmonapse.cancelled"] >= 1
        assert span.status_code == STATUS_ERROR and span.attributes["cosmonapse.stopped"]
    assert len(stop_ids) == 1
    assert first_root.events[0][0] == "cosmonapse.stop"
    [stop_span] = [s for s in spans if s.name == "stop" and s.trace_id == first]
    assert stop_span.parent_span_id == first_root.span_id and stop_span.service == "caller"
    assert stop_span.span_id == otel_span_id(stop_ids.pop(), "stop")
