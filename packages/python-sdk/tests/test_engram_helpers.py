"""The Neuron-side ``imprint`` / ``recall`` helpers: seconds as ``timeout_s`` (the
deprecated ``deadline_ms`` still works, with a CosmonapseDeprecationWarning at the Neuron's line),
and the same typed results the Engram itself returns."""

from __future__ import annotations

import asyncio
import pickle
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    CosmonapseDeprecationWarning,
    Dendrite,
    EngramBinding,
    EngramTimeoutError,
    Hit,
    ImprintResult,
    InMemoryEngram,
    MemorySynapse,
    Signal,
    SignalType,
)
from cosmonapse.subjects import namespace_wildcard

from .conftest import HANG_GUARD_S

NS = "helpers"
Body = Callable[..., Awaitable[Any]]


class Rig:
    """An Engram host, a worker whose Neuron runs ``body(imprint, recall)`` and keeps what
    it returns (Python objects, not their JSON), and a caller."""

    def __init__(self) -> None:
        self.bus = MemorySynapse()
        self.notes = InMemoryEngram("notes", "semantic")
        self.body: Body | None = None
        self.kept: list[Any] = []
        self.heard: list[Signal] = []
        self.bindings = [
            EngramBinding("notes", directed_id="notes"),
            EngramBinding("by-kind", directed_type="semantic"),
            EngramBinding("ghost", directed_id="nobody", default_timeout_s=0.1),
        ]

    async def neuron(
        self, input: dict[str, Any], context: Any, *, imprint: Any, recall: Any
    ) -> dict[str, Any]:
        assert self.body is not None
        self.kept.append(await self.body(imprint, recall))
        return {}

    async def run(self, body: Body) -> Any:
        self.body = body
        self.kept.clear()
        reply = await self.api.dispatch_and_wait(neuron="probe", input={}, timeout_s=HANG_GUARD_S)
        assert reply.type is SignalType.AGENT_OUTPUT, reply.payload
        return self.kept[0]

    async def __aenter__(self) -> Rig:
        async def hear(subject: str, data: bytes) -> None:
            self.heard.append(Signal.decode(data))

        await self.bus.subscribe(namespace_wildcard(NS), hear)
        self.host = Dendrite(synapse=self.bus, namespace=NS, dendrite_id="host", heartbeat_s=0)
        self.host.attach_engram(self.notes)
        self.worker = Dendrite(
            synapse=self.bus, namespace=NS, dendrite_id="worker", role="worker", heartbeat_s=0
        )
        self.worker.attach_axon(Axon("probe", self.neuron, engrams=self.bindings))
        self.api = Dendrite(synapse=self.bus, namespace=NS, dendrite_id="api", heartbeat_s=0)
        for d in (self.host, self.worker, self.api):
            await d.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for d in (self.api, self.worker, self.host):
            await asyncio.wait_for(d.stop(), HANG_GUARD_S)
        await self.bus.close()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with Rig() as r:
        yield r


# -- typed results ---------------------------------------------------------------------------


async def test_imprint_returns_the_engrams_imprint_result(rig: Rig) -> None:
    async def body(imprint: Any, recall: Any) -> Any:
        return await imprint("notes", op="upsert", entry={"text": "hello"}, merge_key="k")

    result = await rig.run(body)
    assert type(result) is ImprintResult
    assert result.op == "upsert" and result.version == 1 == rig.notes.version
    assert result.id is not None and rig.notes.recall({"id": result.id})[0].entry == {
        "text": "hello"
    }

    async def no_ack(imprint: Any, recall: Any) -> Any:
        return await imprint("notes", op="add", entry={"n": 1}, await_ack=False)

    assert await rig.run(no_ack) is None


async def test_recall_returns_the_same_hits_as_the_engram(rig: Rig) -> None:
    rig.notes.imprint(op="add", entry={"id": "a", "text": "hello world"})
    rig.notes.imprint(op="add", entry={"id": "b", "text": "hello there"})

    async def body(imprint: Any, recall: Any) -> Any:
        return await recall("by-kind", query={"text": "hello"}, top_k=5)

    hits = await rig.run(body)
    assert all(type(h) is Hit for h in hits)
    assert hits == rig.notes.recall({"text": "hello"}, top_k=5)
    assert [(h.id, h.score) for h in hits] == [("b", 1.0), ("a", 1.0)]


def test_results_still_read_as_dicts_with_a_deprecation_warning() -> None:
    hit = Hit("a", {"value": 3}, 0.5)
    with pytest.warns(
        CosmonapseDeprecationWarning, match=r"Hit\['entry'\] is deprecated.*\.entry"
    ) as w:
        assert hit["entry"]["value"] == 3
    assert w[0].filename == __file__  # points at the caller's line
    with pytest.warns(CosmonapseDeprecationWarning):
        assert (hit["id"], hit["score"]) == ("a", 0.5)
    result = ImprintResult("ent_1", 4, "add")
    with pytest.warns(CosmonapseDeprecationWarning, match="ImprintResult"):
        assert (result["id"], result["version"], result["op"]) == ("ent_1", 4, "add")
    with pytest.raises(KeyError), warnings.catch_warnings():
        warnings.simplefilter("error")
        hit["nope"]
    assert hit.to_dict() == {"id": "a", "entry": {"value": 3}, "score": 0.5}
    assert result.to_dict() == {"id": "ent_1", "version": 4, "op": "add"}


def test_results_and_bindings_pickle() -> None:
    binding = EngramBinding("notes", directed_id="notes", default_timeout_s=1.5)
    for value in (Hit("a", {"x": 1}, 1.0), ImprintResult(None, 2, "delete"), binding):
        assert pickle.loads(pickle.dumps(value)) == value


# -- timeout_s, and the deprecated deadline_ms -------------------------------------------------


async def test_timeout_s_bounds_the_wait(rig: Rig) -> None:
    for step in ("imprint", "recall"):

        async def body(imprint: Any, recall: Any, step: str = step) -> Any:
            started = time.monotonic()
            try:
                if step == "imprint":
                    await imprint("ghost", op="add", timeout_s=0.05)
                else:
                    await recall("ghost", query={}, timeout_s=0.05)
            except EngramTimeoutError as exc:
                return time.monotonic() - started, str(exc)
            return None

        took, message = await rig.run(body)
        assert took < HANG_GUARD_S / 2 and "nobody" in message


async def test_timeout_s_goes_on_the_wire_as_milliseconds(rig: Rig) -> None:
    async def body(imprint: Any, recall: Any) -> Any:
        return await recall("notes", query={}, timeout_s=1.25)

    assert await rig.run(body) == []
    (sent,) = [s for s in rig.heard if s.type is SignalType.RECALL]
    assert sent.payload["deadline_ms"] == 1250


async def test_deadline_ms_still_works_with_a_deprecation_warning(rig: Rig) -> None:
    async def body(imprint: Any, recall: Any) -> Any:
        written = await imprint("notes", op="add", entry={"n": 1}, deadline_ms=2000)
        hits = await recall("notes", query={}, deadline_ms=1500)
        return written, hits

    with pytest.warns(CosmonapseDeprecationWarning, match=r"deadline_ms=.*timeout_s") as caught:
        written, hits = await rig.run(body)
    assert written.version == 1 and [h.id for h in hits] == [written.id]
    messages = [str(w.message) for w in caught if w.category is CosmonapseDeprecationWarning]
    assert any(m.startswith("imprint(deadline_ms=") and "timeout_s=2" in m for m in messages)
    assert any(m.startswith("recall(deadline_ms=") for m in messages)
    assert {w.filename for w in caught} == {__file__}  # the Neuron's line, not the SDK's
    (sent,) = [s for s in rig.heard if s.type is SignalType.RECALL]
    assert sent.payload["deadline_ms"] == 1500


async def test_deadline_ms_still_times_out(rig: Rig) -> None:
    async def body(imprint: Any, recall: Any) -> Any:
        try:
            await imprint("ghost", op="add", deadline_ms=50)
        except EngramTimeoutError:
            return "timed out"
        return "answered"

    with pytest.warns(CosmonapseDeprecationWarning):
        assert await rig.run(body) == "timed out"


async def test_the_seeds_imprint_call_runs_as_pasted(rig: Rig) -> None:
    """examples/13-retry's ingester as users pasted it, with ``deadline_ms=2000``."""

    async def body(imprint: Any, recall: Any) -> Any:
        doc_id, i, chunk = "handbook", 0, "Refunds are accepted within 30 days."
        await imprint("notes", op="upsert",
                      entry={"doc_id": doc_id, "chunk_index": i, "text": chunk},
                      merge_key=f"{doc_id}:{i}", await_ack=True, deadline_ms=2000)  # fmt: skip
        return len(rig.notes)

    with pytest.warns(CosmonapseDeprecationWarning, match="deadline_ms"):
        assert await rig.run(body) == 1


async def test_timeout_s_and_deadline_ms_together_are_refused(rig: Rig) -> None:
    async def body(imprint: Any, recall: Any) -> Any:
        failures = []
        for call in (
            imprint("notes", op="add", timeout_s=1.0, deadline_ms=1000),
            recall("notes", timeout_s=1.0, deadline_ms=1000),
            recall("notes", timeout_s=0),
            recall("notes", timeout_s=float("nan")),
        ):
            try:
                await call
            except (TypeError, ValueError) as exc:
                failures.append(type(exc).__name__)
        return failures

    assert await rig.run(body) == ["TypeError", "TypeError", "ValueError", "ValueError"]
    assert not [s for s in rig.heard if s.type in (SignalType.IMPRINT, SignalType.RECALL)]


def test_binding_default_timeout_s() -> None:
    assert EngramBinding("n", directed_id="a").default_timeout_s == 2.0
    assert EngramBinding("n", directed_id="a", default_timeout_s=0.25).default_timeout_s == 0.25
    for bad in (0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="default_timeout_s"):
            EngramBinding("n", directed_id="a", default_timeout_s=bad)
    with pytest.raises(TypeError, match="default_timeout_s"):
        EngramBinding("n", directed_id="a", default_timeout_s="2")  # type: ignore[arg-type]


def test_binding_default_deadline_ms_is_deprecated_and_still_works() -> None:
    with pytest.warns(
        CosmonapseDeprecationWarning, match=r"default_deadline_ms.*default_timeout_s=0\.1"
    ):
        old = EngramBinding("n", directed_id="a", default_deadline_ms=100)
    assert old == EngramBinding("n", directed_id="a", default_timeout_s=0.1)
    with pytest.warns(CosmonapseDeprecationWarning, match="default_timeout_s"):
        assert old.default_deadline_ms == 100
    with pytest.raises(ValueError, match="default_deadline_ms"):
        EngramBinding("n", directed_id="a", default_deadline_ms=0)
    with pytest.raises(TypeError, match="not both"):
        EngramBinding("n", directed_id="a", default_timeout_s=1.0, default_deadline_ms=1000)
