"""Recall against a brute-force reference: random data, filters, thresholds, deletes in
the middle, growth past capacity and deterministic ties."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from cosmonapse_engram_vector import VectorEngram

COLORS = ["red", "green", "blue", "black", "white"]


def reference(
    rows: Mapping[str, tuple[list[float], dict[str, Any]]],
    query: list[float],
    *,
    top_k: int,
    filters: Mapping[str, Any] | None = None,
    min_confidence: float | None = None,
) -> list[tuple[str, float]]:
    """Plain-Python cosine scan: rank by (cosine desc, id asc), clip the score to [0, 1]."""
    qn = math.sqrt(sum(v * v for v in query))
    scored = []
    for entry_id, (vector, fields) in rows.items():
        if filters and any(
            (entry_id if k == "id" else fields.get(k)) != v for k, v in filters.items()
        ):
            continue
        cosine = sum(a * b for a, b in zip(vector, query, strict=True)) / (
            math.sqrt(sum(v * v for v in vector)) * qn
        )
        score = min(max(cosine, 0.0), 1.0)
        if min_confidence is not None and score < min_confidence:
            continue
        scored.append((-cosine, entry_id, score))
    scored.sort()
    return [(entry_id, score) for _, entry_id, score in scored[:top_k]]


def fill(engram: VectorEngram, count: int, dim: int, rng: random.Random) -> dict[str, Any]:
    rows: dict[str, tuple[list[float], dict[str, Any]]] = {}
    for i in range(count):
        vector = [rng.gauss(0.0, 1.0) for _ in range(dim)]
        fields = {"color": rng.choice(COLORS), "shard": i % 7, "rare": i % 97 == 3}
        entry_id = engram.imprint(op="add", entry={**fields, "embedding": vector}).id
        assert entry_id is not None
        rows[entry_id] = (vector, fields)
    return rows


def assert_same(got: list[Any], want: list[tuple[str, float]]) -> None:
    assert [h.id for h in got] == [entry_id for entry_id, _ in want]
    for hit, (_, score) in zip(got, want, strict=True):
        assert hit.score == pytest.approx(score, abs=1e-5)
    scores = [h.score for h in got]
    assert scores == sorted(scores, reverse=True)


QUERIES: list[dict[str, Any]] = [
    {"top_k": 1},
    {"top_k": 10},
    {"top_k": 50},
    {"top_k": 10, "filters": {"color": "red"}},
    {"top_k": 10, "filters": {"color": "blue", "shard": 3}},
    {"top_k": 5, "filters": {"rare": True}},  # about 1 row in 97: forces the window to grow
    {"top_k": 10, "filters": {"color": "purple"}},  # matches nothing
    {"top_k": 10, "filters": {"missing": None}},  # a missing field counts as None
    {"top_k": 10, "min_confidence": 0.3},
    {"top_k": 10, "min_confidence": 0.95},
    {"top_k": 400, "min_confidence": 0.0},
    {"top_k": 10, "filters": {"color": "green"}, "min_confidence": 0.2},
    {"top_k": 10, "min_confidence": 1.5},
    {"top_k": 10, "min_confidence": -2.0},
]


@pytest.mark.parametrize("seed,count,dim", [(1, 300, 8), (2, 1000, 16), (3, 50, 3)])
def test_recall_matches_the_reference_on_random_data(seed: int, count: int, dim: int) -> None:
    rng = random.Random(seed)
    engram = VectorEngram(engram_id="r", initial_capacity=8)
    rows = fill(engram, count, dim, rng)
    for _ in range(5):
        query = [rng.gauss(0.0, 1.0) for _ in range(dim)]
        for spec in QUERIES:
            got = engram.recall(
                {"embedding": query, "top_k": spec["top_k"]},
                filters=spec.get("filters"),
                min_confidence=spec.get("min_confidence"),
            )
            want = reference(
                rows,
                query,
                top_k=spec["top_k"],
                filters=spec.get("filters"),
                min_confidence=spec.get("min_confidence"),
            )
            assert_same(got, want)


def test_filter_by_id_finds_exactly_that_entry() -> None:
    rng = random.Random(7)
    engram = VectorEngram(engram_id="r")
    rows = fill(engram, 200, 4, rng)
    target = sorted(rows)[123]
    [hit] = engram.recall({"embedding": [1, 0, 0, 0]}, filters={"id": target})
    assert hit.id == target and hit.entry == rows[target][1]


def test_deletes_in_the_middle_keep_recall_exact() -> None:
    rng = random.Random(11)
    engram = VectorEngram(engram_id="r", initial_capacity=16)
    rows = fill(engram, 400, 6, rng)
    ids = sorted(rows)
    # The first, the last stored, and a scattering of rows in between.
    doomed = {ids[0], ids[-1], *rng.sample(ids, 150)}
    for entry_id in doomed:
        assert engram.imprint(op="delete", entry={"id": entry_id}).id == entry_id
        del rows[entry_id]
    assert len(engram) == len(rows)
    # Every survivor is still its own nearest neighbour and carries its own fields.
    for entry_id, (vector, fields) in rows.items():
        [hit] = engram.recall({"embedding": vector, "top_k": 1}, filters={"id": entry_id})
        assert hit.entry == fields and hit.score == pytest.approx(1.0, abs=1e-5)
        best = engram.recall({"embedding": vector, "top_k": 1})[0]
        assert best.id == entry_id
    for _ in range(5):
        query = [rng.gauss(0.0, 1.0) for _ in range(6)]
        for spec in QUERIES:
            got = engram.recall(
                {"embedding": query},
                top_k=spec["top_k"],
                filters=spec.get("filters"),
                min_confidence=spec.get("min_confidence"),
            )
            assert_same(
                got,
                reference(
                    rows,
                    query,
                    top_k=spec["top_k"],
                    filters=spec.get("filters"),
                    min_confidence=spec.get("min_confidence"),
                ),
            )


def test_growth_past_capacity_and_shrink_back() -> None:
    rng = random.Random(5)
    engram = VectorEngram(engram_id="r", initial_capacity=4)
    rows = fill(engram, 1000, 5, rng)
    assert len(engram) == 1000
    assert engram.capacity == 1024  # 4 doubled eight times
    query = [rng.gauss(0.0, 1.0) for _ in range(5)]
    assert_same(engram.recall({"embedding": query, "top_k": 20}), reference(rows, query, top_k=20))
    for entry_id in list(rows)[:990]:
        engram.imprint(op="delete", entry={"id": entry_id})
        del rows[entry_id]
    assert len(engram) == 10
    assert 10 <= engram.capacity <= 64  # memory follows the live size back down
    assert_same(engram.recall({"embedding": query, "top_k": 20}), reference(rows, query, top_k=20))
    # And it grows again from the shrunk matrix without losing anything.
    rows.update(fill(engram, 100, 5, rng))
    assert_same(engram.recall({"embedding": query, "top_k": 50}), reference(rows, query, top_k=50))


def test_ties_are_broken_by_id_ascending() -> None:
    engram = VectorEngram(engram_id="r")
    # Basis vectors make every dot product exact, so these really are ties.
    for entry_id in ["m", "c", "x", "a", "q"]:
        engram.imprint(op="add", entry={"id": entry_id, "embedding": [0, 1, 0], "g": 1})
    for entry_id in ["b", "z"]:
        engram.imprint(op="add", entry={"id": entry_id, "embedding": [1, 0, 0], "g": 2})
    query = {"embedding": [0, 1, 0]}
    assert [h.id for h in engram.recall(query)] == ["a", "c", "m", "q", "x", "b", "z"]
    assert [h.id for h in engram.recall(query, top_k=2)] == ["a", "c"]
    assert [h.id for h in engram.recall(query, top_k=6)] == ["a", "c", "m", "q", "x", "b"]
    assert [h.id for h in engram.recall(query, filters={"g": 2}, top_k=1)] == ["b"]
    engram.imprint(op="delete", entry={"id": "a"})
    assert [h.id for h in engram.recall(query, top_k=2)] == ["c", "m"]


def test_many_ties_with_a_selective_filter() -> None:
    engram = VectorEngram(engram_id="r")
    for i in range(500):
        engram.imprint(
            op="add", entry={"id": f"e{i:03d}", "embedding": [1.0, 0.0], "keep": i % 50 == 7}
        )
    hits = engram.recall({"embedding": [1, 0]}, filters={"keep": True}, top_k=4)
    assert [h.id for h in hits] == ["e007", "e057", "e107", "e157"]


def test_a_float32_matrix_of_any_values_gives_float_scores() -> None:
    engram = VectorEngram(engram_id="r")
    data = np.random.default_rng(3).standard_normal((64, 12))
    for row in data:
        engram.imprint(op="add", entry={"embedding": row})
    hits = engram.recall({"embedding": data[9]}, top_k=64)
    assert len(hits) == 64
    assert all(type(h.score) is float and 0.0 <= h.score <= 1.0 for h in hits)
