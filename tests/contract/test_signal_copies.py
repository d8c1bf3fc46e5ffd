"""What a Signal's receivers get, on every transport: a copy of their own, taken at
publish, of exactly what the wire carries (docs/architecture.md, "The path of one TASK").

In process the memory synapse carries a snapshot of the Signal instead of its bytes; these
tests hold it to what a socket gives: a sender's later change, or another receiver's, is
never seen; what JSON cannot carry is refused at publish; values JSON writes differently
(a tuple, a NaN, a datetime) arrive as they would have been written; a malformed envelope
is dropped by the receiver; byte-level subscribers get the encoded Signal.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cosmonapse import Dendrite, Directed, EnvelopeError, Signal, SignalType, Synapse

from tests.nats.helpers import eventually
from tests.transports import Transport

DEADLINE_S = 10.0


class Received:
    """Signals one Dendrite's handler got, in order."""

    def __init__(self) -> None:
        self.signals: list[Signal] = []

    async def __call__(self, signal: Signal) -> None:
        self.signals.append(signal)

    async def count(self, n: int) -> list[Signal]:
        await eventually(lambda: len(self.signals) >= n, DEADLINE_S)
        return self.signals


async def _dendrite(synapse: Synapse, name: str) -> Dendrite:
    dendrite = Dendrite(synapse=synapse, namespace="copies", dendrite_id=name, heartbeat_s=0)
    await dendrite.start()
    return dendrite


@pytest.fixture
async def trio(bus: Transport) -> AsyncIterator[tuple[Dendrite, Dendrite, Dendrite]]:
    """A sender and two receivers, each on a client of its own."""
    dendrites = [await _dendrite(await bus.connect(), n) for n in ("sender", "r1", "r2")]
    try:
        yield dendrites[0], dendrites[1], dendrites[2]
    finally:
        for dendrite in dendrites:
            await dendrite.stop()


async def _listen(*receivers: Dendrite) -> list[Received]:
    got = []
    for receiver in receivers:
        received = Received()
        await receiver.subscribe(SignalType.PLAN, received)
        got.append(received)
    return got


async def test_a_change_the_sender_makes_after_publish_is_not_seen(
    trio: tuple[Dendrite, Dendrite, Dendrite],
) -> None:
    sender, r1, _ = trio
    (got,) = await _listen(r1)
    steps = ["a"]
    signal = Signal(
        type=SignalType.PLAN,
        payload={"steps": steps, "nested": {"k": 1}},
        directed=Directed("planner", None, ["plan"]),
        meta={"m": [1]},
    )
    await sender.publish(signal)
    # before any delivery (none happens inside publish): change everything mutable
    steps.append("changed")
    signal.payload["nested"]["k"] = 2
    signal.payload["added"] = True
    signal.meta["m"].append(2)
    assert signal.directed is not None
    signal.directed.capabilities.append("changed")
    signal.directed.id = "changed"
    (copy,) = await got.count(1)
    assert copy.payload == {"steps": ["a"], "nested": {"k": 1}}
    assert copy.meta == {"m": [1]}
    assert copy.directed == Directed("planner", None, ["plan"])
    assert (copy.id, copy.trace_id, copy.ts) == (signal.id, signal.trace_id, signal.ts)


async def test_what_one_receiver_changes_no_other_receiver_nor_the_sender_sees(
    trio: tuple[Dendrite, Dendrite, Dendrite],
) -> None:
    sender, r1, r2 = trio

    async def vandal(signal: Signal) -> None:  # r1's first handler changes its copy
        signal.payload["steps"].append("vandal")
        signal.meta["m"] = "vandal"
        assert signal.directed is not None
        signal.directed.capabilities.clear()

    await r1.subscribe(SignalType.PLAN, vandal)
    got1, got2 = await _listen(r1, r2)
    signal = Signal(
        type=SignalType.PLAN,
        payload={"steps": ["a"]},
        directed=Directed(None, None, ["plan"]),
        meta={"m": 1},
    )
    await sender.publish(signal)
    (seen2,) = await got2.count(1)
    (seen1,) = await got1.count(1)
    await asyncio.sleep(0.05)  # the vandal has run by now
    assert seen2.payload == {"steps": ["a"]} and seen2.meta == {"m": 1}
    assert seen2.directed == Directed(None, None, ["plan"])
    assert signal.payload == {"steps": ["a"]} and signal.meta == {"m": 1}
    assert signal.directed == Directed(None, None, ["plan"])
    assert seen1.payload is not seen2.payload


@pytest.mark.parametrize(
    "payload",
    [{"x": object()}, {"x": {1, 2}}, {1: "not a string key"}, {"x": 2**70}],
    ids=["object", "set", "int-key", "huge-int"],
)
async def test_what_json_cannot_carry_is_refused_at_publish(
    trio: tuple[Dendrite, Dendrite, Dendrite], payload: dict[Any, Any]
) -> None:
    sender, r1, _ = trio
    (got,) = await _listen(r1)
    with pytest.raises(EnvelopeError, match="cannot be encoded as JSON"):
        await sender.emit(SignalType.PLAN, payload)
    with pytest.raises(EnvelopeError, match="cannot be encoded as JSON"):
        await sender.emit(SignalType.PLAN, {"ok": 1}, meta=payload)
    assert sender.counters["published"] == 0
    await sender.emit(SignalType.PLAN, {"after": True})  # the bus keeps working
    (only,) = await got.count(1)
    assert only.payload == {"after": True}


async def test_values_arrive_as_json_writes_them(
    trio: tuple[Dendrite, Dendrite, Dendrite],
) -> None:
    sender, r1, _ = trio
    (got,) = await _listen(r1)
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    await sender.emit(
        SignalType.PLAN,
        {"tuple": (1, "a"), "nan": float("nan"), "when": when, "big": 2**63 - 1, "f": 0.1},
    )
    (copy,) = await got.count(1)
    assert copy.payload == {
        "tuple": [1, "a"],
        "nan": None,
        "when": "2026-01-02T03:04:05+00:00",
        "big": 2**63 - 1,
        "f": 0.1,
    }


@pytest.mark.parametrize(
    "spoil",
    [
        lambda s: setattr(s, "id", "not-an-event-id"),
        lambda s: setattr(s, "trace_id", "trc_short"),
        lambda s: setattr(s, "ts", "yesterday"),
        lambda s: setattr(s, "parent_id", 42),
        lambda s: setattr(s, "directed", Directed(None, None, ["ok", 3])),  # type: ignore[list-item]
        lambda s: setattr(s, "v", "2"),
    ],
    ids=["id", "trace_id", "ts", "parent_id", "capabilities", "version"],
)
async def test_a_malformed_envelope_is_dropped_by_its_receivers(
    trio: tuple[Dendrite, Dendrite, Dendrite], spoil: Callable[[Signal], None]
) -> None:
    sender, r1, _ = trio
    (got,) = await _listen(r1)
    bad = Signal(type=SignalType.PLAN, payload={"bad": True})
    spoil(bad)
    await sender.publish(bad)
    await sender.emit(SignalType.PLAN, {"good": True})
    (only,) = await got.count(1)
    assert only.payload == {"good": True}
    await eventually(lambda: r1.counters["bad_frames"] == 1, DEADLINE_S)


async def test_byte_level_subscribers_get_the_encoded_signal(bus: Transport) -> None:
    sender = await _dendrite(await bus.connect(), "sender")
    raw = await bus.connect()
    frames: list[bytes] = []

    async def collect(subject: str, data: bytes) -> None:
        frames.append(data)

    await raw.subscribe("cosmonapse.copies.PLAN", collect)
    try:
        signal = Signal(
            type=SignalType.PLAN,
            payload={"text": 'quotes " ünïcödé ✓ 🙂 \u2028', "n": [1, 2.5, None, True]},
            directed=Directed("x", "kind", ["c"]),
            meta={"node": "sender"},
        )
        expected = signal.encode()
        await sender.publish(signal)
        signal.payload["text"] = "changed after publish"
        await eventually(lambda: len(frames) == 1, DEADLINE_S)
        assert frames == [expected]
        assert type(frames[0]) is bytes
        assert Signal.decode(frames[0]) == Signal.decode(expected)
    finally:
        await sender.stop()


async def test_a_signal_over_the_frame_limit_is_refused_at_publish(bus: Transport) -> None:
    synapse = await bus.connect()
    if synapse.max_frame_bytes is None:  # the in-process bus has a limit only when given one
        from cosmonapse import MemorySynapse

        synapse = MemorySynapse(max_frame_bytes=4096)
    sender = await _dendrite(synapse, "sender")
    try:
        limit = synapse.max_frame_bytes
        assert limit is not None
        from cosmonapse import FrameTooLargeError

        with pytest.raises(FrameTooLargeError):
            await sender.emit(SignalType.PLAN, {"text": "x" * limit})
        assert sender.counters["published"] == 0
    finally:
        await sender.stop()
