"""Engrams: write ops and their saga journal, and how a Neuron reaches them over the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    EngramBinding,
    EngramError,
    InMemoryEngram,
    MemorySynapse,
    NeuronContext,
    Signal,
    SignalType,
    new_trace_id,
)
from cosmonapse.builders import imprint_signal
from cosmonapse.subjects import namespace_wildcard, signal_subject

from .conftest import HANG_GUARD_S, Bus, eventually

NS = "engrams"

# -- the saga journal, without a bus ---------------------------------------------------------


def test_add_upsert_merge_delete_and_len() -> None:
    e = InMemoryEngram("e")
    a = e.imprint(op="add", entry={"text": "a"})
    assert a.id is not None and a.id.startswith("ent_") and len(e) == 1
    given = e.imprint(op="append", entry={"id": "fixed", "text": "b"})
    assert given.id == "fixed" and len(e) == 2
    up = e.imprint(op="upsert", entry={"text": "c1"}, merge_key="k")
    again = e.imprint(op="upsert", entry={"text": "c2"}, merge_key="k")
    assert up.id == again.id and len(e) == 3
    assert e.recall({"text": "c2"})[0].entry == {"text": "c2"}
    merged = e.imprint(op="merge", entry={"extra": 1}, merge_key="k")
    assert merged.id == up.id
    assert e.recall({"extra": 1})[0].entry == {"text": "c2", "extra": 1}
    assert e.imprint(op="delete", entry={"id": "fixed"}).id == "fixed"
    assert e.imprint(op="delete", merge_key="k").id == up.id
    assert len(e) == 1
    assert e.imprint(op="delete", entry={"id": "gone"}).id is None  # nothing to delete
    assert e.version == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"op": "frobnicate", "entry": {}}, "unknown op"),
        ({"op": "upsert", "entry": {}}, "needs a merge_key"),
        ({"op": "merge", "entry": {}}, "needs a merge_key"),
        ({"op": "delete", "entry": {}}, "delete needs"),
        ({"op": "add", "entry": "text"}, "must be an object"),
    ],
)
def test_bad_writes_raise_engram_error_and_change_nothing(
    kwargs: dict[str, Any], match: str
) -> None:
    e = InMemoryEngram("e")
    with pytest.raises(EngramError, match=match):
        e.imprint(trace_id="trc_t", **kwargs)
    assert len(e) == 0 and e.version == 0 and e.journal_size("trc_t") == 0


def test_adding_an_existing_id_is_refused() -> None:
    e = InMemoryEngram("e")
    e.imprint(op="add", entry={"id": "x"})
    with pytest.raises(EngramError, match="already exists"):
        e.imprint(op="add", entry={"id": "x"})


def test_rollback_undoes_every_op_newest_first() -> None:
    e = InMemoryEngram("e")
    e.imprint(op="add", entry={"id": "keep", "v": 0})
    e.imprint(op="upsert", entry={"v": "old"}, merge_key="m")
    before = {h.id: h.entry for h in e.recall({})}
    trace = "trc_work"
    e.imprint(op="add", entry={"id": "new", "v": 1}, trace_id=trace)
    e.imprint(op="upsert", entry={"v": "new"}, merge_key="m", trace_id=trace)
    e.imprint(op="merge", entry={"w": 2}, merge_key="m", trace_id=trace)
    e.imprint(op="upsert", entry={"v": "fresh"}, merge_key="fresh", trace_id=trace)
    e.imprint(op="delete", entry={"id": "keep"}, trace_id=trace)
    e.imprint(op="add", entry={"id": "keep", "v": "replaced"}, trace_id=trace)
    assert e.journal_size(trace) == 6
    assert e.rollback(trace) == 6
    assert {h.id: h.entry for h in e.recall({})} == before
    # The merge index is restored too: an upsert on "m" updates the original entry.
    assert e.imprint(op="upsert", entry={"v": "again"}, merge_key="m").id in before
    assert e.rollback(trace) == 0  # compensation is idempotent


def test_commit_and_discard_keep_the_writes() -> None:
    e = InMemoryEngram("e")
    e.imprint(op="add", entry={"a": 1}, trace_id="trc_a")
    e.imprint(op="add", entry={"b": 1}, trace_id="trc_b")
    assert e.has_stake("trc_a") and e.has_stake("trc_b")
    assert e.commit("trc_a") == 1
    assert e.discard("trc_b") == 1
    assert not e.has_stake("trc_a") and not e.has_stake("trc_b")
    assert e.rollback("trc_a") == 0 and e.rollback("trc_b") == 0
    assert len(e) == 2


def test_writes_without_a_trace_are_not_journaled() -> None:
    e = InMemoryEngram("e")
    e.imprint(op="add", entry={})
    assert e._journals == {}


def test_imprint_is_idempotent_by_imprint_id() -> None:
    e = InMemoryEngram("e")
    first = e.imprint(op="add", entry={"n": 1}, trace_id="trc_t", imprint_id="evt_1")
    second = e.imprint(op="add", entry={"n": 1}, trace_id="trc_t", imprint_id="evt_1")
    assert second == first
    assert len(e) == 1 and e.version == 1 and e.journal_size("trc_t") == 1
    other = e.imprint(op="add", entry={"n": 1}, trace_id="trc_t", imprint_id="evt_2")
    assert other.id != first.id and len(e) == 2


def test_an_expired_journal_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    e = InMemoryEngram("e", journal_ttl_s=0.001)
    e.imprint(op="add", entry={"old": True}, trace_id="trc_old")
    assert e.journal_size("trc_old") == 1
    caplog.set_level(logging.WARNING, logger="cosmonapse.engram")
    n = 0
    # Journals expire when the next write comes in after the TTL.
    while e.has_stake("trc_old"):
        n += 1
        assert n < 100_000, "the journal never expired"
        e.imprint(op="add", entry={"n": n})
    assert e.expired_journals == 1
    assert e.rollback("trc_old") == 0  # can no longer be rolled back ...
    assert len(e) == n + 1  # ... and the write itself stays
    assert any("trc_old" in r.getMessage() and "expired" in r.getMessage() for r in caplog.records)


def test_journals_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    e = InMemoryEngram("e", max_journals=2)
    for t in ("trc_1", "trc_2", "trc_3"):
        e.imprint(op="add", entry={}, trace_id=t)
    assert not e.has_stake("trc_1") and e.has_stake("trc_2") and e.has_stake("trc_3")
    assert e.expired_journals == 1
    assert "trc_1" in caplog.text


def test_engram_constructor_validation() -> None:
    with pytest.raises(ValueError):
        InMemoryEngram("")
    with pytest.raises(ValueError):
        InMemoryEngram("e", journal_ttl_s=0)
    assert InMemoryEngram("e").engram_kind == "memory"
    assert InMemoryEngram("e", "semantic").engram_kind == "semantic"


def test_recall_matching() -> None:
    e = InMemoryEngram("e")
    e.imprint(op="add", entry={"id": "1", "text": "The Sun rises", "lang": "en"})
    e.imprint(op="add", entry={"id": "2", "text": "la lune", "lang": "fr"})
    e.imprint(op="add", entry={"id": "3", "text": "sunny day", "lang": "en"})
    assert [h.id for h in e.recall({"text": "SUN"})] == ["3", "1"]  # newest first
    assert [h.id for h in e.recall({"text": "sun"}, filters={"lang": "en"}, top_k=1)] == ["3"]
    assert [h.id for h in e.recall({"top_k": 2})] == ["3", "2"]
    assert [h.id for h in e.recall({"id": "2"})] == ["2"]
    assert e.recall({}, min_confidence=1.5) == []
    with pytest.raises(EngramError):
        e.recall({}, top_k=0)


def test_binding_validation() -> None:
    with pytest.raises(ValueError):
        EngramBinding(name="x")
    with pytest.raises(ValueError):
        EngramBinding(name="x", directed_id="a", directed_type="b")
    with pytest.raises(ValueError):
        EngramBinding(name="", directed_id="a")
    with pytest.raises(ValueError):
        EngramBinding(name="x", directed_id="a", default_timeout_s=0)
    with pytest.raises(ValueError, match="share a name"):
        Axon(
            "n",
            probe,
            engrams=[EngramBinding("x", directed_id="a"), EngramBinding("x", directed_id="b")],
        )


# -- over the bus ----------------------------------------------------------------------------


class Broken(InMemoryEngram):
    """An Engram whose storage fails on writes and on searches."""

    def _put(self, entry_id: str, entry: dict[str, Any]) -> None:
        raise OSError("disk full")

    def _search(self, query: Any, **kw: Any) -> Any:
        raise RuntimeError("index corrupt")


async def probe(
    input: dict[str, Any], context: NeuronContext, *, imprint: Any, recall: Any
) -> dict[str, Any]:
    """Runs the step named in the input and reports what happened."""
    step = input["step"]
    try:
        if step == "imprint":
            result = await imprint(
                input["name"],
                op=input.get("op", "add"),
                entry=input.get("entry", {}),
                merge_key=input.get("key"),
                await_ack=input.get("ack", True),
                timeout_s=input.get("timeout_s"),
            )
        else:
            result = await recall(
                input["name"],
                query=input.get("query", {}),
                top_k=input.get("top_k"),
                timeout_s=input.get("timeout_s"),
            )
    except Exception as exc:
        return {
            "raised": type(exc).__name__,
            "message": str(exc),
            "is_timeout": isinstance(exc, TimeoutError),
            "is_key_error": isinstance(exc, KeyError),
            "is_engram_error": isinstance(exc, EngramError),
        }
    return {"result": result}


class Setup:
    def __init__(self) -> None:
        self.good = InMemoryEngram("notes", "semantic")
        self.broken = Broken("broken", "semantic-broken")
        self.heard: list[Signal] = []
        self.host: Dendrite
        self.worker: Dendrite
        self.api: Dendrite

    async def run(self, **input: Any) -> dict[str, Any]:
        reply = await self.api.dispatch_and_wait(
            neuron="probe", input=input, timeout_s=HANG_GUARD_S
        )
        assert reply.type is SignalType.AGENT_OUTPUT, reply.payload
        out: dict[str, Any] = reply.payload["output"]
        return out


@pytest.fixture
async def setup(bus: Bus) -> AsyncIterator[Setup]:
    s = Setup()

    async def hear(subject: str, data: bytes) -> None:
        s.heard.append(Signal.decode(data))

    await (await bus.connect()).subscribe(namespace_wildcard(NS), hear)
    s.host = Dendrite(
        synapse=await bus.connect(), namespace=NS, dendrite_id="host", role="worker", heartbeat_s=0
    )
    s.host.attach_engram(s.good)
    s.host.attach_engram(s.broken)
    s.worker = Dendrite(
        synapse=await bus.connect(),
        namespace=NS,
        dendrite_id="worker",
        role="worker",
        heartbeat_s=0,
    )
    s.worker.attach_axon(
        Axon(
            "probe",
            probe,
            engrams=[
                EngramBinding("notes", directed_id="notes"),
                EngramBinding("by-kind", directed_type="semantic"),
                EngramBinding("broken", directed_id="broken"),
                EngramBinding("ghost", directed_id="no-such-engram", default_timeout_s=0.1),
            ],
        )
    )
    s.api = Dendrite(synapse=await bus.connect(), namespace=NS, dendrite_id="api", heartbeat_s=0)
    for d in (s.host, s.worker, s.api):
        await d.start()
    try:
        yield s
    finally:
        for d in (s.api, s.worker, s.host):
            await asyncio.wait_for(d.stop(), HANG_GUARD_S)


async def test_imprint_and_recall_through_a_neuron(setup: Setup) -> None:
    out = await setup.run(
        step="imprint", name="notes", op="upsert", entry={"text": "hello world"}, key="greeting"
    )
    ack = out["result"]
    assert ack["op"] == "upsert"  # the ImprintResult, as the Neuron's JSON output
    assert ack["id"].startswith("ent_") and ack["version"] == 1
    assert len(setup.good) == 1
    by_id = await setup.run(step="recall", name="notes", query={"text": "world"})
    assert [h["entry"] for h in by_id["result"]] == [{"text": "hello world"}]
    assert by_id["result"][0]["score"] == 1.0
    by_kind = await setup.run(step="recall", name="by-kind", query={"text": "hello"}, top_k=5)
    assert [h["id"] for h in by_kind["result"]] == [ack["id"]]
    recalls = [s for s in setup.heard if s.type is SignalType.RECALL]
    assert recalls[-1].directed is not None and recalls[-1].directed.type == "semantic"


async def test_imprint_without_ack_returns_at_once(setup: Setup) -> None:
    out = await setup.run(step="imprint", name="notes", entry={"n": 1}, ack=False)
    assert out == {"result": None}
    await eventually(lambda: len(setup.good) == 1)


async def test_an_engram_that_raises_answers_with_error(setup: Setup) -> None:
    out = await setup.run(step="imprint", name="broken", entry={"x": 1})
    assert out["raised"] == "EngramError" and out["is_engram_error"]
    assert "disk full" in out["message"] and "broken" in out["message"]
    imprinted = [s for s in setup.heard if s.type is SignalType.IMPRINTED]
    assert len(imprinted) == 1 and imprinted[0].payload["error"] == "disk full"
    assert imprinted[0].payload["id"] is None
    out = await setup.run(step="recall", name="broken", query={})
    assert out["raised"] == "EngramError" and "index corrupt" in out["message"]
    # A bad op is refused with the Engram's reason, too.
    out = await setup.run(step="imprint", name="notes", op="upsert", entry={})
    assert out["raised"] == "EngramError" and "merge_key" in out["message"]
    assert len(setup.good) == 0


async def test_an_unbound_name_is_a_clear_error(setup: Setup) -> None:
    for step in ("imprint", "recall"):
        out = await setup.run(step=step, name="nope")
        assert out["raised"] == "UnknownEngramBindingError"
        assert out["is_key_error"] and out["is_engram_error"]
        assert "'nope'" in out["message"]
        assert "broken, by-kind, ghost, notes" in out["message"]  # what is bound
    assert not [s for s in setup.heard if s.type in (SignalType.IMPRINT, SignalType.RECALL)]


async def test_no_engram_host_means_a_timeout_error(setup: Setup) -> None:
    for step in ("imprint", "recall"):
        out = await setup.run(step=step, name="ghost")  # default_timeout_s=0.1
        assert out["raised"] == "EngramTimeoutError"
        assert out["is_timeout"] and out["is_engram_error"]
        assert "no-such-engram" in out["message"]
    out = await setup.run(step="imprint", name="notes", timeout_s=5.0)
    assert out["result"]["version"] == 1  # a live host answers well within its deadline


async def test_imprint_by_kind_is_refused(setup: Setup) -> None:
    out = await setup.run(step="imprint", name="by-kind")
    assert out["raised"] == "EngramError" and "bound by kind" in out["message"]


async def test_a_replayed_imprint_is_applied_once(bus: Bus, setup: Setup) -> None:
    """The same IMPRINT (same id) delivered twice writes once: the host Dendrite drops the
    replay (its dedup window), and the Engram itself is idempotent by imprint id."""
    raw = await bus.connect()
    trace_id = new_trace_id()
    imprint = imprint_signal(
        engram_id="notes", op="add", entry={"n": 1}, trace_id=trace_id, parent_id=None
    )
    for _ in range(2):
        await raw.publish(signal_subject(NS, "IMPRINT"), imprint.encode())

    def answers() -> list[Signal]:
        return [
            s for s in setup.heard if s.type is SignalType.IMPRINTED and s.parent_id == imprint.id
        ]

    await eventually(lambda: setup.host.stats["duplicates"] == 1, what="replay dropped")
    await eventually(lambda: len(answers()) == 1)
    (first,) = answers()
    assert first.payload["version"] == 1
    # A replay that gets past the window (a restart, a host with dedup_window=0) is
    # still applied once by the Engram.
    again = setup.good.imprint(op="add", entry={"n": 1}, trace_id=trace_id, imprint_id=imprint.id)
    assert (again.id, again.version) == (first.payload["id"], 1)
    assert len(setup.good) == 1
    assert setup.good.journal_size(trace_id) == 1


def test_unimplemented_engram_methods_are_abstract() -> None:
    from cosmonapse import Engram

    with pytest.raises(TypeError):
        Engram("x")  # type: ignore[abstract]


async def test_attaching_an_engram_twice_is_an_error() -> None:
    d = Dendrite(synapse=MemorySynapse(), namespace=NS, heartbeat_s=0)
    d.attach_engram(InMemoryEngram("a"))
    with pytest.raises(ValueError, match="already attached"):
        d.attach_engram(InMemoryEngram("a"))


async def test_an_unattached_axon_cannot_reach_engrams() -> None:
    from cosmonapse.builders import task_signal

    axon = Axon("probe", probe, engrams=[EngramBinding("notes", directed_id="notes")])
    reply = await axon.handle_task(
        task_signal(input={"step": "imprint", "name": "notes"}, neuron="probe")
    )
    assert reply.payload["output"]["raised"] == "EngramError"
    assert "attach_axon" in reply.payload["output"]["message"]
