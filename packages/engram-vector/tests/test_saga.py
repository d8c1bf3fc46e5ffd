"""The base class's saga journal over VectorEngram storage: rollback restores rows exactly."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from cosmonapse_engram_vector import VectorEngram

Embed = Callable[[str], list[float]]


def chunk_text(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_the_resilience_walkthrough_ingest_and_rollback(fake_embed: Embed) -> None:
    # The seed's ingester: upserts chunk after chunk under the TASK's trace, then crashes.
    vectors = VectorEngram(engram_id="retry-vectors", engram_kind="semantic")
    assert len(vectors) == 0
    trace_id = "trace-ingest"
    doc_id = "handbook"
    chunks = chunk_text("Dendrites host Axons. Engrams remember. Synapses carry Signals.")
    for i, chunk in enumerate(chunks[:3]):
        vectors.imprint(
            op="upsert",
            entry={
                "doc_id": doc_id,
                "chunk_index": i,
                "text": chunk,
                "embedding": fake_embed(chunk),
            },
            merge_key=f"{doc_id}:{i}",
            trace_id=trace_id,
            imprint_id=f"imp-{i}",
        )
    assert len(vectors) == 3
    assert vectors.journal_size(trace_id) == 3 and vectors.has_stake(trace_id)
    hits = vectors.recall({"embedding": fake_embed(chunks[1]), "top_k": 3})
    assert hits[0].entry == {"doc_id": doc_id, "chunk_index": 1, "text": chunks[1]}

    compensated = vectors.rollback(trace_id)
    assert compensated == 3
    assert len(vectors) == 0
    assert vectors.recall({"embedding": fake_embed(chunks[1])}) == []
    assert vectors.rollback(trace_id) == 0  # compensation is idempotent
    # The merge keys are free again: a fresh ingest adds, it does not replace ghosts.
    for i, chunk in enumerate(chunks):
        vectors.imprint(
            op="upsert",
            entry={
                "doc_id": doc_id,
                "chunk_index": i,
                "text": chunk,
                "embedding": fake_embed(chunk),
            },
            merge_key=f"{doc_id}:{i}",
        )
    assert len(vectors) == len(chunks)


def snapshot(engram: VectorEngram, queries: list[list[float]]) -> list[Any]:
    return [
        [
            (h.id, h.entry, h.score)
            for h in engram.recall({"embedding": q, "top_k": 1000, "include_embedding": True})
        ]
        for q in queries
    ]


def test_rollback_of_add_upsert_merge_delete_restores_recall_exactly(fake_embed: Embed) -> None:
    rng = random.Random(42)
    engram = VectorEngram(engram_id="v", embed=fake_embed, initial_capacity=4)
    for i in range(60):
        if i % 3 == 0:
            entry: dict[str, Any] = {"text": f"chunk number {i} about {rng.random()}"}
        else:
            entry = {"n": i, "embedding": [rng.gauss(0, 1) for _ in range(16)]}
        engram.imprint(op="upsert", entry=entry, merge_key=f"k{i}")
    queries = [[rng.gauss(0, 1) for _ in range(16)] for _ in range(4)]
    before = snapshot(engram, queries)
    size, capacity = len(engram), engram.capacity

    trace = "t-saga"
    for i in range(10):
        engram.imprint(op="add", entry={"new": i, "embedding": queries[i % 4]}, trace_id=trace)
    for i in range(0, 15, 3):  # replace text-derived and vector entries alike
        engram.imprint(
            op="upsert",
            entry={"replaced": True, "text": f"other {i}"},
            merge_key=f"k{i}",
            trace_id=trace,
        )
    for i in range(30, 40):  # deletes from the middle reorder the matrix rows
        engram.imprint(op="delete", merge_key=f"k{i}", trace_id=trace)
    for i in (1, 2, 3):
        engram.imprint(op="merge", entry={"text": "merged text"}, merge_key=f"k{i}", trace_id=trace)
    assert snapshot(engram, queries) != before

    assert engram.rollback(trace) == 28
    assert len(engram) == size
    assert snapshot(engram, queries) == before  # ids, fields, scores and float32 rows
    assert engram.capacity >= size and capacity >= size
    # Merge keys point where they did: upserting k0 replaces, it does not add.
    engram.imprint(op="upsert", entry={"embedding": queries[0]}, merge_key="k0")
    assert len(engram) == size


def test_commit_keeps_the_writes_and_drops_the_journal(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"embedding": [1, 0]}, trace_id="t")
    engram.imprint(op="add", entry={"embedding": [0, 1]}, trace_id="t")
    assert engram.commit("t") == 2
    assert engram.rollback("t") == 0
    assert len(engram) == 2


def test_rollbacks_of_two_traces_are_independent(engram: VectorEngram) -> None:
    a = engram.imprint(op="add", entry={"embedding": [1, 0]}, trace_id="a").id
    b = engram.imprint(op="add", entry={"embedding": [0, 1]}, trace_id="b").id
    assert engram.rollback("a") == 1
    assert [h.id for h in engram.recall({"embedding": [1, 1]})] == [b]
    assert engram.rollback("b") == 1 and len(engram) == 0
    assert a != b
