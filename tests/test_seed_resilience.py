"""The resilience walkthrough's code, as users paste it (only the bus is in process).

Each function body below is the walkthrough's text line for line: ``deadline_ms=2000`` on
``imprint``, ``run_with_retry(...)`` and ``sig.payload["output"]["answer"]``,
``stop_trace(tid)`` and ``stop_trace(tid, rollback=True, collect_acks=True,
timeout_s=0.5)`` summed as a list of acks. The names that were renamed since still work,
with a CosmonapseDeprecationWarning; the calls that were not renamed warn nothing.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from pathlib import Path

import pytest
from cosmonapse import CosmonapseDeprecationWarning, MemorySynapse, new_trace_id

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "11-rag"))

from cosmonapse import Axon, Dendrite, EngramBinding
from vector_engram import VectorEngram  # cosine + per-trace saga journal

NAMESPACE = "seed-resilience"


def fake_embed(text) -> list[float]:  # type: ignore[no-untyped-def]
    vec = [0.0] * 16
    for ch in text.lower():
        vec[ord(ch) % 16] += 1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


def chunk_text(text, words_per_chunk=12) -> list[str]:  # type: ignore[no-untyped-def]
    words = text.split()
    return [" ".join(words[i : i + words_per_chunk]) for i in range(0, len(words), words_per_chunk)]


# ingester: imprints each chunk under the TASK's trace. With fail_after
# set it raises partway through, leaving a PARTIAL write the orchestrator
# can roll back. await_ack=True makes each write durable before the next.
async def ingest_neuron(input, context, *, imprint):  # type: ignore[no-untyped-def]
    doc_id = input["doc_id"]
    chunks = chunk_text(input["text"])
    fail_after = input.get("fail_after")
    written = 0
    for i, chunk in enumerate(chunks):
        if fail_after is not None and i >= fail_after:
            raise RuntimeError(f"ingest of {doc_id!r} crashed after {written} chunks")
        await imprint("vectors", op="upsert",
                      entry={"doc_id": doc_id, "chunk_index": i, "text": chunk,
                             "embedding": fake_embed(chunk)},
                      merge_key=f"{doc_id}:{i}", await_ack=True, deadline_ms=2000)  # fmt: skip
        written += 1
    return {"doc_id": doc_id, "chunks": written}


def make_flaky_generator(stall_first, *, stall_s=5.0):  # type: ignore[no-untyped-def]
    state = {"calls": 0}

    async def generator(input, context):  # type: ignore[no-untyped-def]
        state["calls"] += 1
        n = state["calls"]
        if n <= stall_first:
            await asyncio.sleep(stall_s)  # stalls past the retry timeout
        return {"answer": f"answer to {input['question']!r}", "attempt": n}

    generator.state = state  # type: ignore[attr-defined]  # exposed for the demo printout
    return generator


# build: engram-host + worker (2 Axons) + orchestrator.
def build(synapse, *, generator):  # type: ignore[no-untyped-def]
    vectors = VectorEngram(engram_id="retry-vectors", engram_kind="semantic")

    host = Dendrite(synapse=synapse, namespace=NAMESPACE,
                    dendrite_id="engram-host", role="worker")  # fmt: skip
    host.attach_engram(vectors)

    bind = EngramBinding(name="vectors", directed_id="retry-vectors")
    worker = Dendrite(synapse=synapse, namespace=NAMESPACE,
                      dendrite_id="worker", role="worker")  # fmt: skip
    worker.attach_axon(Axon(neuron_id="ingester", neuron_fn=ingest_neuron,
        capabilities=["ingest"], engrams=[bind]))  # fmt: skip
    worker.attach_axon(Axon(neuron_id="generator", neuron_fn=generator,
        capabilities=["generate"]))  # fmt: skip

    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE,
                            dendrite_id="api", role="orchestrator")  # fmt: skip
    return [host, worker, orchestrator], orchestrator, vectors


async def test_run_with_retry_as_pasted(capsys: pytest.CaptureFixture[str]) -> None:
    synapse = MemorySynapse()
    dendrites, orch, _ = build(synapse, generator=make_flaky_generator(1, stall_s=5.0))
    for d in dendrites:
        await d.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing here is deprecated
            from cosmonapse import RetryStrategy

            def on_retry(attempt, outcome):  # type: ignore[no-untyped-def]
                print(f"   attempt {attempt} stuck -> STOP + re-dispatch on a fresh trace")

            sig = await orch.run_with_retry(
                neuron="generator",
                input={"question": "what is a Dendrite?"},
                retry=RetryStrategy(max_attempts=3, timeout_s=0.5, on_retry=on_retry),
            )
            print(sig.payload["output"]["answer"])
    finally:
        for d in reversed(dendrites):
            await d.stop()
    assert capsys.readouterr().out.splitlines() == [
        "   attempt 1 stuck -> STOP + re-dispatch on a fresh trace",
        "answer to 'what is a Dendrite?'",
    ]


async def test_stop_trace_and_rollback_as_pasted() -> None:
    synapse = MemorySynapse()
    dendrites, orch, vectors = build(synapse, generator=make_flaky_generator(0))
    for d in dendrites:
        await d.start()
    try:
        text = " ".join(f"word{i}" for i in range(12 * 5))  # five chunks
        tid = new_trace_id()
        with pytest.warns(CosmonapseDeprecationWarning, match="deadline_ms"):
            failed = await orch.dispatch_and_wait(
                neuron="ingester",
                input={"doc_id": "doc", "text": text, "fail_after": 3},
                trace_id=tid,
                timeout_s=10,
            )
        assert failed.payload["code"] == "NEURON_EXCEPTION"
        assert len(vectors) == 3  # three chunks written before the crash

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing here is deprecated
            # rollback=True additionally replays each hosted Engram's per-trace
            # inverse-op journal, undoing a half-finished write (saga rollback).
            acks = await orch.stop_trace(tid, rollback=True, collect_acks=True, timeout_s=0.5)
            compensated = sum(a.payload.get("compensated", 0) for a in acks)
            # stop_trace: cooperative cancellation of a whole workflow by trace_id.
            await orch.stop_trace(tid)
        assert compensated == 3
        assert len(vectors) == 0
    finally:
        for d in reversed(dendrites):
            await d.stop()
