"""SqliteEngram: what is acknowledged is in the file, a restarted Engram can still roll
back a trace begun before the restart, and bad files or a full disk are clear errors."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from cosmonapse import Engram, EngramError, EngramStoreError, InMemoryEngram, SqliteEngram


def contents(engram: Engram) -> dict[str, dict[str, object]]:
    return {hit.id: hit.entry for hit in engram.recall({}, top_k=10_000)}


def test_of_kind_builds_a_durable_engram_that_counts_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram.of_kind("sqlite", engram_id="notes", path=path) as kv:
        assert isinstance(kv, SqliteEngram) and kv.engram_kind == "sqlite"
        assert len(kv) == 0
        kv.imprint(op="add", entry={"id": "a", "n": 1})
        kv.imprint(op="upsert", entry={"n": 2}, merge_key="k")
        assert len(kv) == 2
    with SqliteEngram("notes", path=path) as again:
        assert len(again) == 2 and again.version == 2
        assert contents(again)["a"] == {"n": 1}
        # the merge-key index came back too: an upsert replaces, it does not add
        again.imprint(op="upsert", entry={"n": 3}, merge_key="k")
        assert len(again) == 2
        assert again.recall({"n": 3})[0].entry == {"n": 3}


def test_a_restart_answers_recall_as_before(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram("e", path=path) as kv:
        for i in range(20):
            kv.imprint(op="add", entry={"i": i, "text": f"chunk {i}", "tag": i % 3})
        kv.imprint(op="delete", entry={"id": kv.recall({"i": 4})[0].id})
        kv.imprint(op="merge", entry={"extra": True}, merge_key="m")
        before = [kv.recall({}, top_k=100), kv.recall({"tag": 1}), kv.recall({"text": "CHUNK 1"})]
    with SqliteEngram("e", path=path) as kv:
        assert [
            kv.recall({}, top_k=100),
            kv.recall({"tag": 1}),
            kv.recall({"text": "CHUNK 1"}),
        ] == before


def test_rollback_after_a_restart_compensates_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram("e", path=path) as kv:
        kv.imprint(op="upsert", entry={"v": "committed"}, merge_key="doc", trace_id="trc_done")
        assert kv.commit("trc_done") == 1  # FINAL
        kv.imprint(op="add", entry={"id": "x", "v": 1}, trace_id="trc_t")
        kv.imprint(op="upsert", entry={"v": "t1"}, merge_key="doc", trace_id="trc_t")
        kv.imprint(op="merge", entry={"w": 2}, merge_key="doc", trace_id="trc_t")
        kv.imprint(op="delete", entry={"id": "x"}, trace_id="trc_t")
        kv.imprint(op="add", entry={"id": "other"}, trace_id="trc_other")
    with SqliteEngram("e", path=path) as kv:
        assert kv.journal_size("trc_t") == 4 and not kv.has_stake("trc_done")
        assert kv.rollback("trc_t") == 4
        assert contents(kv) == {
            kv.recall({"v": "committed"})[0].id: {"v": "committed"},
            "other": {},
        }
        assert kv.rollback("trc_t") == 0
    with SqliteEngram("e", path=path) as kv:  # the rollback itself was durable
        assert not kv.has_stake("trc_t") and kv.has_stake("trc_other")
        assert set(contents(kv)) == {kv.recall({"v": "committed"})[0].id, "other"}
        assert kv.rollback("trc_done") == 0  # committed before the restart: stays


def test_journals_keep_their_expiry_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram("e", path=path, journal_ttl_s=3600, max_journals=2) as kv:
        for trace in ("trc_1", "trc_2", "trc_3"):
            kv.imprint(op="add", entry={"t": trace}, trace_id=trace)
        assert not kv.has_stake("trc_1")  # over max_journals: dropped, and durably so
    with SqliteEngram("e", path=path, journal_ttl_s=3600, max_journals=2) as kv:
        assert [kv.has_stake(t) for t in ("trc_1", "trc_2", "trc_3")] == [False, True, True]
    # Reopened with a TTL shorter than the journals' age: they expire on the next write.
    with SqliteEngram("e", path=path, journal_ttl_s=1e-9) as kv:
        kv.imprint(op="add", entry={})
        assert not kv.has_stake("trc_2") and not kv.has_stake("trc_3")
    with SqliteEngram("e", path=path) as kv:
        assert not kv.has_stake("trc_2") and len(kv) == 4


def test_a_journal_keeps_its_age_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram("e", path=path, journal_ttl_s=3600) as kv:
        kv.imprint(op="add", entry={}, trace_id="trc_old")
        kv.imprint(op="add", entry={}, trace_id="trc_new")
    conn = sqlite3.connect(path)  # as if trc_old had begun two hours ago
    with conn:
        conn.execute("UPDATE journals SET created = created - 7200 WHERE trace_id = 'trc_old'")
    conn.close()
    with SqliteEngram("e", path=path, journal_ttl_s=3600) as kv:
        kv.imprint(op="add", entry={})  # expiry runs on the next write
        assert not kv.has_stake("trc_old") and kv.has_stake("trc_new")
        assert kv.expired_journals == 1


def test_an_imprint_id_is_applied_once_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram("e", path=path) as kv:
        first = kv.imprint(op="add", entry={"n": 1}, imprint_id="evt_1")
    with SqliteEngram("e", path=path) as kv:
        assert kv.imprint(op="add", entry={"n": 1}, imprint_id="evt_1") == first
        assert len(kv) == 1


def test_an_entry_that_is_not_json_is_refused(tmp_path: Path) -> None:
    with SqliteEngram("e", path=tmp_path / "kv.db") as kv:
        with pytest.raises(EngramError, match="must be JSON"):
            kv.imprint(op="add", entry={"when": object()})
        assert len(kv) == 0


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all " * 500)
    with pytest.raises(EngramStoreError, match=r"junk\.db is not a readable engram store") as info:
        SqliteEngram("e", path=junk)
    assert info.value.path == str(junk)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(EngramStoreError, match=r"foreign.db is an SQLite database but not a"):
        SqliteEngram("e", path=foreign)
    with pytest.raises(EngramStoreError, match="is a directory"):
        SqliteEngram("e", path=tmp_path)


def test_a_store_of_another_engram_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    SqliteEngram("notes", path=path).close()
    with pytest.raises(EngramStoreError, match="belongs to engram 'notes', not 'other'"):
        SqliteEngram("other", path=path)


def test_a_corrupt_page_is_a_clear_error_not_an_empty_engram(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram("e", path=path) as kv:
        for i in range(400):
            kv.imprint(op="add", entry={"i": i, "pad": "x" * 200})
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, then damage it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):
        data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(EngramStoreError, match=r"kv\.db"):
        SqliteEngram("e", path=path)


def test_a_second_opener_gets_a_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with SqliteEngram("e", path=path) as kv:
        kv.imprint(op="add", entry={"n": 1})
        with pytest.raises(EngramStoreError, match="in use by another engram host"):
            SqliteEngram("e", path=path)
        kv.imprint(op="add", entry={"n": 2})  # the holder is undisturbed
    with SqliteEngram("e", path=path) as kv:  # closing released the lock
        assert len(kv) == 2


def test_a_full_disk_fails_the_imprint_and_loses_nothing_acknowledged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "kv.db"
    acknowledged: dict[str, dict[str, object]] = {}
    caplog.set_level(logging.ERROR, logger="cosmonapse.engram")
    # max_size_bytes is SQLite's max_page_count: past it SQLite reports SQLITE_FULL.
    with SqliteEngram("e", path=path, max_size_bytes=64 * 1024) as kv:
        kv.imprint(op="add", entry={"id": "t0", "n": -1}, trace_id="trc_open")
        acknowledged["t0"] = {"n": -1}
        with pytest.raises(EngramStoreError, match="disk is full") as info:
            for i in range(10_000):
                body = {"n": i, "pad": "x" * 300}
                kv.imprint(op="add", entry={"id": f"e{i}", **body}, trace_id="trc_open")
                acknowledged[f"e{i}"] = body
        assert "nothing of it was stored" in str(info.value) and str(path) in str(info.value)
        assert contents(kv) == acknowledged  # memory matches the file
        assert kv.journal_size("trc_open") == len(acknowledged)
        # small writes still fit in the pages freed by nothing: it stays consistent
        with pytest.raises(EngramStoreError):
            kv.imprint(op="add", entry={"pad": "y" * 5000})
    assert "disk is full" in caplog.text
    with SqliteEngram("e", path=path) as kv:
        assert contents(kv) == acknowledged
        assert kv.rollback("trc_open") == len(acknowledged)  # the journal made it, whole
        assert len(kv) == 0


def test_a_backup_opens_as_the_same_store(tmp_path: Path) -> None:
    with SqliteEngram("e", path=tmp_path / "kv.db") as kv:
        kv.imprint(op="add", entry={"n": 1}, trace_id="trc_t")
        kv.backup(tmp_path / "copy.db")
        kv.imprint(op="add", entry={"n": 2})
    with SqliteEngram("e", path=tmp_path / "copy.db") as copy:
        assert len(copy) == 1 and copy.journal_size("trc_t") == 1


def test_writes_after_close_are_refused(tmp_path: Path) -> None:
    kv = SqliteEngram("e", path=tmp_path / "kv.db")
    kv.close()
    with pytest.raises(EngramStoreError, match="is closed"):
        kv.imprint(op="add", entry={})


def test_in_memory_engrams_are_unchanged() -> None:
    e = InMemoryEngram("e")
    e.imprint(op="add", entry={"a": 1}, trace_id="trc_t")
    assert e.rollback("trc_t") == 1 and len(e) == 0
