"""The README's short example runs as written (in its own process, as instrument() sets the
process's global provider), prints what it promises and exports its two spans over
OTLP/HTTP to the collector named by OTEL_EXPORTER_OTLP_ENDPOINT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import OtlpReceiver

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_prints_and_exports_what_it_promises(otlp: OtlpReceiver) -> None:
    section = README.read_text(encoding="utf-8").split("## A short example", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    promised = section.split("```text", 1)[1].split("```", 1)[0].strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.endpoint
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == promised
    spans = otlp.snapshot()  # the process flushed before it exited
    assert sorted(s.name for s in spans) == ["dispatch shouter", "invoke_agent shouter"]
    dispatch, run = sorted(spans, key=lambda s: s.name)
    assert run.parent_span_id == dispatch.span_id and run.trace_id == dispatch.trace_id
    assert {s.service for s in spans} == {"demo"}
    assert run.attributes["gen_ai.agent.name"] == "shouter"


TRACED_ALONE = """
import asyncio
from cosmonapse import Axon, Dendrite, MemorySynapse
from cosmonapse_otel import traced

async def echo(input, context):
    return input

async def main():
    bus = traced(MemorySynapse(), service_name="solo")
    worker = Dendrite(synapse=bus, namespace="solo", role="worker")
    worker.attach_axon(Axon("echo", echo))
    async with bus, worker, Dendrite(synapse=bus, namespace="solo") as caller:
        print((await caller.dispatch_and_wait(neuron="echo", input={"a": 1})).output)

asyncio.run(main())
"""


def test_traced_without_a_provider_installs_the_otlp_one(otlp: OtlpReceiver) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.endpoint
    out = subprocess.run(
        [sys.executable, "-c", TRACED_ALONE], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'a': 1}"
    spans = otlp.snapshot()
    assert sorted(s.name for s in spans) == ["dispatch echo", "invoke_agent echo"]
    assert {s.service for s in spans} == {"solo"}
