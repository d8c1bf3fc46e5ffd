"""The in-process bus carries snapshots of Signals, not their bytes (``_snapshot.py``):
what a snapshot holds and gives, how MemorySynapse hands it to parcel and byte-level
subscribers, its frame limit, and the Dendrite's per-trace stakes kept without a set per
trace. tests/contract/test_signal_copies.py holds every transport to the same copies."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Directed,
    DispatchTimeoutError,
    EnvelopeError,
    FrameTooLargeError,
    MemorySynapse,
    NeuronContext,
    Signal,
    SignalType,
    builders,
)
from cosmonapse._snapshot import SignalSnapshot, snapshot_of
from cosmonapse._traces import TraceBook
from cosmonapse.signal import well_formed


def _plan() -> Signal:
    return Signal(
        type=SignalType.PLAN,
        payload={"steps": ["a", {"b": [1, 2.5, None, True]}], "text": 'ünï ✓ \u2028 "q"'},
        directed=Directed("planner", "kind", ["plan", "write"]),
        meta={"node": "n1", "attempt": 2},
    )


def test_a_snapshot_opens_to_an_equal_signal_that_shares_nothing_mutable() -> None:
    signal = _plan()
    snapshot = snapshot_of(signal)
    assert snapshot is not None
    first, second = snapshot.open(), snapshot.open()
    assert first == signal == second
    for copy in (first, second):
        assert copy.payload is not signal.payload
        assert copy.payload["steps"] is not signal.payload["steps"]
        assert copy.meta is not signal.meta
        assert copy.directed is not signal.directed
        assert copy.directed is not None and signal.directed is not None
        assert copy.directed.capabilities is not signal.directed.capabilities
    assert first.payload is not second.payload
    assert first.payload["steps"][1] is not second.payload["steps"][1]


def test_a_snapshot_is_taken_at_once() -> None:
    signal = _plan()
    snapshot = SignalSnapshot(signal)
    signal.payload["steps"].append("later")
    signal.meta["attempt"] = 3
    assert signal.directed is not None
    signal.directed.capabilities.append("later")
    opened = snapshot.open()
    assert opened.payload["steps"] == ["a", {"b": [1, 2.5, None, True]}]
    assert opened.meta["attempt"] == 2
    assert opened.directed == Directed("planner", "kind", ["plan", "write"])


def test_the_frame_of_a_snapshot_is_the_encoded_signal_made_once() -> None:
    signal = _plan()
    signal.payload["when"] = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    signal.payload["pair"] = (1, 2)
    expected = signal.encode()
    snapshot = SignalSnapshot(signal)
    signal.payload.clear()
    frame = snapshot.frame()
    assert frame == expected
    assert snapshot.frame() is frame
    for kind in (SignalType.TASK, SignalType.STOP, SignalType.HEARTBEAT):
        plain = Signal(type=kind, payload={"input": {}})
        assert SignalSnapshot(plain).frame() == plain.encode()


def test_well_formed_is_what_decode_takes_as_it_is() -> None:
    task = builders.task_signal(input={"n": 1}, neuron="echo")
    reply = builders.agent_output_signal(task, output={}, producer="echo")
    for good in (task, reply, _plan(), Signal(type=SignalType.DISCOVER)):
        assert well_formed(good)
        assert Signal.decode(good.encode()) == good
    spoilt = [
        Signal(type=SignalType.TASK, payload={}),  # a TASK needs payload.input
        Signal(type=SignalType.TASK, payload={"input": [1]}),
        Signal(type=SignalType.PLAN, id="evt_short"),
        Signal(type=SignalType.PLAN, v="1.1"),  # accepted by decode, but not as it is
        Signal(type=SignalType.PLAN, meta=None),  # type: ignore[arg-type]
        Signal(type=SignalType.PLAN, directed=Directed(7)),  # type: ignore[arg-type]
        Signal(type="PLAN"),  # type: ignore[arg-type]
    ]
    for bad in spoilt:
        assert not well_formed(bad)
        assert snapshot_of(bad) is None


def test_a_snapshot_refuses_what_json_cannot_carry_as_encode_does() -> None:
    for payload, meta in (({"x": object()}, {}), ({}, {"x": {1}}), ({"x": 2**64}, {})):
        signal = Signal(type=SignalType.PLAN, payload=payload, meta=meta)
        with pytest.raises(EnvelopeError) as encoded:
            signal.encode()
        with pytest.raises(EnvelopeError) as snapped:
            snapshot_of(signal)
        assert str(snapped.value) == str(encoded.value)


async def test_parcel_and_byte_subscribers_on_one_subject() -> None:
    async with MemorySynapse() as synapse:
        parcels: list[object] = []
        frames: list[bytes] = []
        await synapse.subscribe_parcels("s.t", lambda s, d: parcels.append(d))
        await synapse.subscribe("s.t", lambda s, d: frames.append(d))
        await synapse.subscribe("s.>", lambda s, d: frames.append(d))
        signal = _plan()
        snapshot = SignalSnapshot(signal)
        synapse.publish_parcel("s.t", snapshot)
        await synapse.publish("s.t", b"raw")
        assert parcels == [] and frames == []  # nothing runs inside publish
        await asyncio.sleep(0)
        assert parcels == [snapshot, b"raw"]
        assert frames == [signal.encode(), signal.encode(), b"raw", b"raw"]
        assert frames[0] is frames[1]  # the frame was written once for both
        assert synapse.stats["published"] == 2 and synapse.stats["delivered"] == 6


async def test_the_frame_limit_applies_to_parcels_and_frames() -> None:
    with pytest.raises(ValueError):
        MemorySynapse(max_frame_bytes=0)
    async with MemorySynapse(max_frame_bytes=300) as synapse:
        got: list[object] = []
        await synapse.subscribe_parcels(">", lambda s, d: got.append(d))
        small = Signal(type=SignalType.PLAN, payload={"t": "x"})
        big = Signal(type=SignalType.PLAN, payload={"t": "x" * 300})
        with pytest.raises(FrameTooLargeError) as info:
            synapse.publish_parcel("s.t", SignalSnapshot(big))
        assert (info.value.size, info.value.limit) == (len(big.encode()), 300)
        with pytest.raises(FrameTooLargeError):
            await synapse.publish("s.t", big.encode())
        synapse.publish_parcel("s.t", SignalSnapshot(small))
        await synapse.publish("s.t", b"x" * 300)
        await asyncio.sleep(0)
        assert len(got) == 2 and synapse.stats["published"] == 2


async def test_a_dendrite_refuses_a_signal_over_the_limit_of_its_memory_synapse() -> None:
    async with MemorySynapse(max_frame_bytes=1024) as synapse:
        sender = Dendrite(synapse=synapse, namespace="lim", dendrite_id="s", heartbeat_s=0)
        receiver = Dendrite(synapse=synapse, namespace="lim", dendrite_id="r", heartbeat_s=0)
        got: list[Signal] = []

        async def on_plan(signal: Signal) -> None:
            got.append(signal)

        await receiver.subscribe(SignalType.PLAN, on_plan)
        async with sender, receiver:
            with pytest.raises(FrameTooLargeError):
                await sender.emit(SignalType.PLAN, {"text": "x" * 1024})
            await sender.emit(SignalType.PLAN, {"text": "fits"})
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.01)
            assert [s.payload for s in got] == [{"text": "fits"}]
            assert sender.counters["published"] == 1


async def test_a_dendrite_takes_bytes_published_on_a_parcel_subscription() -> None:
    async with MemorySynapse() as synapse:
        receiver = Dendrite(synapse=synapse, namespace="raw", dendrite_id="r", heartbeat_s=0)
        got: list[Signal] = []

        async def on_plan(signal: Signal) -> None:
            got.append(signal)

        await receiver.subscribe(SignalType.PLAN, on_plan)
        async with receiver:
            signal = _plan()
            await synapse.publish("cosmonapse.raw.PLAN", signal.encode())
            await synapse.publish("cosmonapse.raw.PLAN", b"not json")
            for _ in range(100):
                if got and receiver.counters["bad_frames"]:
                    break
                await asyncio.sleep(0.01)
            assert got == [signal]
            assert receiver.counters["bad_frames"] == 1


async def test_a_reply_built_from_ids_the_neuron_changed_is_judged_as_over_a_socket() -> None:
    """The host sends its reply as a snapshot unchecked only while the TASK's ids are the
    ones it received: a Neuron that changed them gets its reply sent as bytes, which the
    caller refuses (as any socket peer would) instead of taking a malformed Signal."""

    async def vandal(input: dict[str, object], context: NeuronContext) -> dict[str, object]:
        context.task.trace_id = "not a trace id"
        return {}

    async with MemorySynapse() as synapse:
        worker = Dendrite(
            synapse=synapse, namespace="vandal", dendrite_id="w", role="worker", heartbeat_s=0
        )
        worker.attach_axon(Axon("vandal", vandal))
        caller = Dendrite(synapse=synapse, namespace="vandal", dendrite_id="c", heartbeat_s=0)
        async with worker, caller:
            with pytest.raises(DispatchTimeoutError):
                await caller.dispatch_and_wait(neuron="vandal", input={}, timeout_s=0.5)
            assert caller.counters["bad_frames"] == 1
            assert worker.stats["in_flight"] == 0


def test_stakes_keep_their_peers_without_a_set_per_trace() -> None:
    book = TraceBook(max_traces=3)
    book.stake("t0")
    book.stake("t1", "a")
    book.stake("t1", "a")
    book.stake("t2", "a")
    book.stake("t2", "b")
    book.stake("t2", "c")
    book.stake("t0", "z")
    assert book.peers("t0") == {"z"}
    assert book.peers("t1") == {"a"}
    assert book.peers("t2") == {"a", "b", "c"}
    assert book.peers("never") == set()
    peers = book.peers("t2")
    peers.add("not kept")
    assert book.peers("t2") == {"a", "b", "c"}
    assert all(book.has_stake(t) for t in ("t0", "t1", "t2"))
    book.stake("t3")  # over max_traces: the oldest record goes
    assert not book.has_stake("t0") and book.has_stake("t3")
    book.release("t1")
    assert not book.has_stake("t1") and book.peers("t1") == set()
