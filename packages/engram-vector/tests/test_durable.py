"""VectorEngram(path=...): a restart loads the same index (the same float32 bits), the saga
journal survives it, and store failures are clear errors that change nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cosmonapse import EngramStoreError, SqliteEngram
from cosmonapse_engram_vector import VectorEngram

Embed = Callable[[str], list[float]]


def snapshot(
    engram: VectorEngram, query: list[float]
) -> list[tuple[str, dict[str, object], float]]:
    hits = engram.recall({"embedding": query, "include_embedding": True}, top_k=10_000)
    return [(h.id, h.entry, h.score) for h in hits]


def test_a_restart_loads_the_same_index(tmp_path: Path, fake_embed: Embed) -> None:
    path = tmp_path / "v.db"
    rng = np.random.default_rng(7)
    query = rng.standard_normal(16).tolist()
    with VectorEngram(engram_id="docs", path=path, embed=fake_embed) as docs:
        for i in range(300):
            docs.imprint(op="add", entry={"id": f"r{i}", "embedding": rng.standard_normal(16)})
        docs.imprint(op="upsert", entry={"text": "Dendrites host Axons"}, merge_key="g0")
        for i in range(0, 300, 7):
            docs.imprint(op="delete", entry={"id": f"r{i}"})
        before = snapshot(docs, query)
        version = docs.version
    with VectorEngram.of_kind("vector", engram_id="docs", path=path, embed=fake_embed) as again:
        assert isinstance(again, VectorEngram)
        assert snapshot(again, query) == before and again.version == version
        assert len(again) == len(before) and again.dim == 16
        # a merge that changes the text still re-embeds it: the flag came back
        again.imprint(op="merge", entry={"text": "Synapses carry Signals"}, merge_key="g0")
        hit = again.recall({"text": "Synapses carry Signals"}, top_k=1)[0]
        assert hit.score > 0.999


def test_rollback_after_a_restart_restores_the_exact_vectors(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with VectorEngram(engram_id="v", path=path) as v:
        v.imprint(op="upsert", entry={"embedding": [1.0, 2.0, 3.0], "doc": "a"}, merge_key="a")
        original = snapshot(v, [1.0, 0.0, 0.0])
        v.imprint(
            op="upsert", entry={"embedding": [3.0, 2.0, 1.0]}, merge_key="a", trace_id="trc_t"
        )
        v.imprint(op="add", entry={"embedding": [0.0, 1.0, 0.0]}, trace_id="trc_t")
        v.imprint(op="delete", entry={}, merge_key="a", trace_id="trc_t")
    with VectorEngram(engram_id="v", path=path) as v:
        assert v.journal_size("trc_t") == 3
        assert v.rollback("trc_t") == 3
        assert snapshot(v, [1.0, 0.0, 0.0]) == original
    with VectorEngram(engram_id="v", path=path) as v:
        assert snapshot(v, [1.0, 0.0, 0.0]) == original and not v.has_stake("trc_t")


def test_a_full_disk_fails_the_imprint_and_keeps_the_index(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    rng = np.random.default_rng(1)
    kept: set[str] = set()
    with VectorEngram(engram_id="v", path=path, max_size_bytes=256 * 1024) as v:
        with pytest.raises(EngramStoreError, match="disk is full"):
            for i in range(100_000):
                v.imprint(op="add", entry={"id": f"e{i}", "embedding": rng.standard_normal(64)})
                kept.add(f"e{i}")
        assert len(v) == len(kept) > 10
        assert {h.id for h in v.recall({"embedding": [1.0] * 64}, top_k=100_000)} == kept
    with VectorEngram(engram_id="v", path=path) as v:
        assert {h.id for h in v.recall({"embedding": [1.0] * 64}, top_k=100_000)} == kept


def test_bad_store_files_are_clear_errors(tmp_path: Path) -> None:
    kv = tmp_path / "kv.db"
    SqliteEngram("v", path=kv).close()
    with pytest.raises(EngramStoreError, match="holds a 'kv' engram store, not a 'vector' one"):
        VectorEngram(engram_id="v", path=kv)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(EngramStoreError, match="not a Cosmonapse engram store"):
        VectorEngram(engram_id="v", path=foreign)
    path = tmp_path / "v.db"
    with VectorEngram(engram_id="v", path=path) as v:
        v.imprint(op="add", entry={"embedding": [1.0, 2.0]})
        with pytest.raises(EngramStoreError, match="in use by another engram host"):
            VectorEngram(engram_id="v", path=path)
    with pytest.raises(EngramStoreError, match="holds vectors of 2 dimensions, expected 3"):
        VectorEngram(engram_id="v", path=path, dim=3)
    conn = sqlite3.connect(path)  # a damaged vector blob is named, not skipped
    with conn:
        conn.execute("UPDATE entries SET blob = x'0001'")
    conn.close()
    with pytest.raises(EngramStoreError, match="is corrupt"):
        VectorEngram(engram_id="v", path=path)


def test_without_a_path_nothing_is_written(tmp_path: Path) -> None:
    v = VectorEngram(engram_id="v")
    v.imprint(op="add", entry={"embedding": [1.0, 0.0]})
    assert v.path is None and list(tmp_path.iterdir()) == []
