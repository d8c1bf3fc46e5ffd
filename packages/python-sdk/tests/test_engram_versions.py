"""An Engram's version moves on every change, compensation included."""

from __future__ import annotations

from cosmonapse import InMemoryEngram, new_trace_id


def test_rollback_bumps_the_version() -> None:
    engram = InMemoryEngram("notes")
    trace = new_trace_id()
    first = engram.imprint(op="add", entry={"text": "a"}, trace_id=trace)
    engram.imprint(op="add", entry={"text": "b"}, trace_id=trace)
    before = engram.version
    assert before == first.version + 1
    assert engram.rollback(trace) == 2
    assert len(engram) == 0
    assert engram.version > before  # the store changed, so its version did too
    after = engram.imprint(op="add", entry={"text": "c"})
    assert after.version == engram.version > before + 1


def test_empty_rollback_leaves_the_version() -> None:
    engram = InMemoryEngram("notes")
    engram.imprint(op="add", entry={"text": "a"})
    before = engram.version
    assert engram.rollback(new_trace_id()) == 0
    assert engram.version == before
