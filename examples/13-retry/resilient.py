"""The pieces demo.py wires together: an offline embedding, a crashable ingester, a
flaky generator, and build() for the engram host, the worker and the orchestrator."""

import asyncio

# Reuse the VectorEngram from the RAG example (11-rag), but run OFFLINE: a deterministic
# 16-dim embedding and a local chunker, so the demo needs no token/network.
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent / "11-rag"))   # the VectorEngram backend

from cosmonapse import Axon, Dendrite, EngramBinding
from vector_engram import VectorEngram              # cosine + per-trace saga journal

NAMESPACE = "retry-demo"


def fake_embed(text) -> list[float]:
    vec = [0.0] * 16
    for ch in text.lower():
        vec[ord(ch) % 16] += 1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


def chunk_text(text, words_per_chunk=12) -> list[str]:
    """Split text into chunks of at most words_per_chunk words."""
    words = text.split()
    return [" ".join(words[i:i + words_per_chunk])
            for i in range(0, len(words), words_per_chunk)]


# ingester: imprints each chunk under the TASK's trace. With fail_after
# set it raises partway through, leaving a PARTIAL write the orchestrator
# can roll back. await_ack=True makes each write durable before the next.
async def ingest_neuron(input, context, *, imprint):
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
                      merge_key=f"{doc_id}:{i}", await_ack=True, timeout_s=2.0)
        written += 1
    return {"doc_id": doc_id, "chunks": written}


# A fake LLM that stalls on its first stall_first calls, then answers.
# Each retry is a FRESH dispatch -> a fresh call here, so a stuck attempt
# times out, gets STOPped, and the next attempt runs anew.
def make_flaky_generator(stall_first, *, stall_s=5.0):
    state = {"calls": 0}

    async def generator(input, context):
        state["calls"] += 1
        n = state["calls"]
        if n <= stall_first:
            await asyncio.sleep(stall_s)            # stalls past the retry timeout
        return {"answer": f"answer to {input['question']!r}", "attempt": n}

    generator.state = state                          # exposed for the demo printout
    return generator


# The VectorEngram: in memory, or durable in the SQLite file at `path`
# (entries and saga journal survive a restart of the engram host).
def open_vectors(path=None):
    return VectorEngram(engram_id="retry-vectors", engram_kind="semantic", path=path)


def engram_host(synapse, vectors):
    host = Dendrite(synapse=synapse, namespace=NAMESPACE,
                    dendrite_id="engram-host", role="worker")
    host.attach_engram(vectors)
    return host


# build: engram-host + worker (2 Axons) + orchestrator.
def build(synapse, *, generator, path=None):
    vectors = open_vectors(path)
    host = engram_host(synapse, vectors)

    bind = EngramBinding(name="vectors", directed_id="retry-vectors")
    worker = Dendrite(synapse=synapse, namespace=NAMESPACE,
                      dendrite_id="worker", role="worker")
    worker.attach_axon(Axon(neuron_id="ingester", neuron_fn=ingest_neuron,
        capabilities=["ingest"], engrams=[bind]))
    worker.attach_axon(Axon(neuron_id="generator", neuron_fn=generator,
        capabilities=["generate"]))

    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE,
                            dendrite_id="api", role="orchestrator")
    return [host, worker, orchestrator], orchestrator, vectors
