"""ViewerFeed and SignalHub bounds, without HTTP."""

from __future__ import annotations

import asyncio

import pytest
from cosmonapse import Directed, MemorySynapse, Signal, SignalType
from cosmonapse.subjects import signal_subject
from cosmonapse_prism import SignalHub, TooManyViewersError, ViewerFeed


def test_feed_drops_oldest_past_the_item_bound():
    feed = ViewerFeed(max_items=3, max_bytes=1_000, replay=[])
    for i in range(10):
        feed.push(b"%d" % i)
    assert len(feed) == 3
    assert feed.dropped == 7
    assert feed.take(max_items=10, max_bytes=1_000) == [b"7", b"8", b"9"]
    assert feed.sent == 3


def test_feed_drops_oldest_past_the_byte_bound_but_keeps_one():
    feed = ViewerFeed(max_items=100, max_bytes=10, replay=[])
    feed.push(b"aaaa")
    feed.push(b"bbbb")
    feed.push(b"cccc")  # 12 bytes: the oldest goes
    assert feed.pending_bytes == 8 and feed.dropped == 1
    feed.push(b"x" * 50)  # alone over the bound: kept, everything older goes
    assert len(feed) == 1 and feed.pending_bytes == 50 and feed.dropped == 3


def test_take_respects_batch_bounds():
    feed = ViewerFeed(max_items=100, max_bytes=10_000, replay=[])
    for _ in range(10):
        feed.push(b"x" * 10)
    assert len(feed.take(max_items=3, max_bytes=10_000)) == 3
    assert len(feed.take(max_items=100, max_bytes=25)) == 2
    assert len(feed.take(max_items=100, max_bytes=1)) == 1  # always at least one
    assert feed.pending_bytes == 40


async def test_wait_wakes_on_push_and_on_close():
    feed = ViewerFeed(max_items=4, max_bytes=100, replay=[])
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await feed.wait()
    feed.push(b"x")
    assert await asyncio.wait_for(feed.wait(), 5) is True
    feed.take(max_items=1, max_bytes=100)
    waiter = asyncio.ensure_future(feed.wait())
    await asyncio.sleep(0)
    feed.close()
    assert await asyncio.wait_for(waiter, 5) is False
    feed.push(b"late")
    assert len(feed) == 0


def test_feed_rejects_zero_bounds():
    with pytest.raises(ValueError):
        ViewerFeed(max_items=0, max_bytes=1, replay=[])


async def test_hub_limits_viewers_and_validates_namespace():
    async with MemorySynapse() as bus:
        with pytest.raises(ValueError):
            SignalHub(bus, "bad.namespace")
        with pytest.raises(TypeError):
            SignalHub(object(), "ok")  # type: ignore[arg-type]
        hub = SignalHub(bus, "ok", max_viewers=2)
        a, b = hub.attach(), hub.attach()
        with pytest.raises(TooManyViewersError):
            hub.attach()
        hub.detach(a)
        hub.attach()
        await hub.aclose()
        assert b.closed


async def test_hub_membership_replay_is_bounded_and_follows_deregister(eventually):
    async with MemorySynapse() as bus:
        hub = SignalHub(bus, "ns", history=0)
        await hub.start()
        subject = signal_subject("ns", "REGISTER")
        ids = []
        for i in range(1100):
            sig = Signal(type=SignalType.REGISTER, directed=Directed(f"n{i}"), payload={})
            ids.append(sig.id)
            await bus.publish(subject, sig.encode())
        leave = Signal(type=SignalType.DEREGISTER, directed=Directed("n1099"), payload={})
        await bus.publish(signal_subject("ns", "DEREGISTER"), leave.encode())
        await eventually(lambda: hub.received == 1101)
        replay = hub.attach().replay
        assert len(replay) == 1023  # bounded at 1024, minus the one that left
        assert ids[-2].encode() in replay[-1]
        await hub.aclose()
