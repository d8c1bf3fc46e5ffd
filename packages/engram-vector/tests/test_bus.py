"""VectorEngram hosted by a real Dendrite on a MemorySynapse: IMPRINT/RECALL round trips,
errors on the IMPRINTED reply, and the resilience walkthrough's rollback over the bus."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, EngramBinding, EngramError, MemorySynapse, new_trace_id
from cosmonapse_engram_vector import VectorEngram

Embed = Callable[[str], list[float]]
NAMESPACE = "vector-bus"


@pytest.fixture
async def bus(fake_embed: Embed) -> AsyncIterator[tuple[Dendrite, VectorEngram]]:
    vectors = VectorEngram(engram_id="retry-vectors", engram_kind="semantic", embed=fake_embed)
    synapse = MemorySynapse()
    host = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="engram-host", role="worker")
    host.attach_engram(vectors)
    bind = EngramBinding(name="vectors", directed_id="retry-vectors")

    async def writer(input: dict[str, Any], context: Any, *, imprint: Any) -> dict[str, Any]:
        outcomes: list[str] = []
        for entry in input["entries"]:
            try:
                await imprint("vectors", op="add", entry=entry, timeout_s=5.0)
                outcomes.append("ok")
            except EngramError as exc:
                outcomes.append(str(exc))
        return {"outcomes": outcomes}

    async def reader(input: dict[str, Any], context: Any, *, recall: Any) -> dict[str, Any]:
        hits = await recall(
            "vectors",
            query=input["query"],
            top_k=input.get("top_k"),
            filters=input.get("filters"),
            timeout_s=5.0,
        )
        return {"hits": hits}

    async def ingester(input: dict[str, Any], context: Any, *, imprint: Any) -> dict[str, Any]:
        for i, chunk in enumerate(input["chunks"]):
            if i >= input["fail_after"]:
                raise RuntimeError(f"crashed after {i} chunks")
            await imprint(
                "vectors",
                op="upsert",
                entry={
                    "doc_id": "handbook",
                    "chunk_index": i,
                    "text": chunk,
                    "embedding": fake_embed(chunk),
                },
                merge_key=f"handbook:{i}",
                timeout_s=5.0,
            )
        return {"chunks": len(input["chunks"])}

    worker = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="worker", role="worker")
    worker.attach_axon(Axon(neuron_id="writer", neuron_fn=writer, engrams=[bind]))
    worker.attach_axon(Axon(neuron_id="reader", neuron_fn=reader, engrams=[bind]))
    worker.attach_axon(Axon(neuron_id="ingester", neuron_fn=ingester, engrams=[bind]))
    orchestrator = Dendrite(
        synapse=synapse, namespace=NAMESPACE, dendrite_id="api", role="orchestrator"
    )
    async with host, worker, orchestrator:
        yield orchestrator, vectors
    await synapse.close()


async def test_bad_embeddings_are_refused_on_the_imprinted_reply(
    bus: tuple[Dendrite, VectorEngram],
) -> None:
    orchestrator, vectors = bus
    entries = [
        {"doc_id": "a", "embedding": [1.0] * 16},
        {"doc_id": "b", "embedding": [1.0] * 8},
        {"doc_id": "c", "embedding": [1.0, *([0.0] * 14), float("nan")]},
        {"doc_id": "d", "embedding": []},
        {"doc_id": "e", "text": "embedded by the host"},
    ]
    reply = await orchestrator.dispatch_and_wait(
        neuron="writer", input={"entries": entries}, timeout_s=10
    )
    outcomes = reply.payload["output"]["outcomes"]
    assert outcomes[0] == "ok" and outcomes[4] == "ok"
    assert "refused add" in outcomes[1] and "has 8 dimensions, expected 16" in outcomes[1]
    # JSON has no NaN: it crosses the bus as null, and the reply says so.
    assert "index 15 is null (a NaN or infinity becomes null" in outcomes[2]
    assert "'embedding' is empty" in outcomes[3]
    assert len(vectors) == 2


async def test_recall_over_the_bus_returns_json_hits(
    bus: tuple[Dendrite, VectorEngram], fake_embed: Embed
) -> None:
    orchestrator, vectors = bus
    for i, text in enumerate(["dendrites host axons", "synapses carry signals", "engrams"]):
        vectors.imprint(op="add", entry={"id": f"e{i}", "text": text, "n": i})
    reply = await orchestrator.dispatch_and_wait(
        neuron="reader",
        input={"query": {"text": "synapses carry signals"}, "top_k": 2},
        timeout_s=10,
    )
    hits = reply.payload["output"]["hits"]
    assert len(hits) == 2 and hits[0]["id"] == "e1"
    assert hits[0]["entry"] == {"text": "synapses carry signals", "n": 1}
    assert math.isclose(hits[0]["score"], 1.0, abs_tol=1e-6)
    reply = await orchestrator.dispatch_and_wait(
        neuron="reader",
        input={"query": {"embedding": fake_embed("engrams")}, "filters": {"n": 0}},
        timeout_s=10,
    )
    assert [h["id"] for h in reply.payload["output"]["hits"]] == ["e0"]


async def test_stop_with_rollback_undoes_a_partial_ingest(
    bus: tuple[Dendrite, VectorEngram],
) -> None:
    orchestrator, vectors = bus
    trace_id = new_trace_id()
    chunks = ["Dendrites host Axons.", "Engrams remember.", "Synapses carry.", "Never written."]
    await orchestrator.dispatch_and_wait(
        neuron="ingester",
        input={"chunks": chunks, "fail_after": 3},
        trace_id=trace_id,
        timeout_s=10,
    )
    assert len(vectors) == 3
    acks = await orchestrator.stop_trace(trace_id, rollback=True, collect_acks=True, timeout_s=10)
    assert sum(a.payload.get("compensated", 0) for a in acks) == 3
    assert len(vectors) == 0
