"""MemorySynapse specifics: named shared buses, bounded inboxes, queue groups.

(The behaviour every transport shares is in the root contract suite.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from cosmonapse import MemorySynapse, SubjectError, SynapseClosedError, connect_synapse

WaitUntil = Callable[..., Awaitable[None]]


async def test_named_memory_urls_share_one_bus(wait_until: WaitUntil) -> None:
    a = await connect_synapse("memory://shared-test-bus")
    b = await connect_synapse("memory://shared-test-bus")
    other = await connect_synapse("memory://another-test-bus")
    fresh1 = await connect_synapse("memory://")
    fresh2 = await connect_synapse("memory://")
    try:
        assert a is b
        assert a.url == "memory://shared-test-bus"
        assert other is not a and fresh1 is not fresh2 and fresh1 is not a
        got: list[bytes] = []
        heard_elsewhere: list[bytes] = []

        async def on_a(subject: str, data: bytes) -> None:
            got.append(data)

        async def on_other(subject: str, data: bytes) -> None:
            heard_elsewhere.append(data)

        await a.subscribe("t.x", on_a)
        await other.subscribe("t.x", on_other)
        await b.publish("t.x", b"hello")
        await wait_until(lambda: got == [b"hello"])
        assert heard_elsewhere == []
    finally:
        for synapse in (a, other, fresh1, fresh2):
            await synapse.close()


async def test_a_closed_named_bus_is_replaced_by_a_fresh_one() -> None:
    first = await connect_synapse("memory://reopened-test-bus")
    await first.close()
    second = await connect_synapse("memory://reopened-test-bus")
    try:
        assert second is not first
        assert not second.closed
        await second.publish("t.x", b"ok")  # usable
    finally:
        await second.close()


async def test_memory_options_reach_the_bus() -> None:
    synapse = await connect_synapse("memory://", max_pending=2)
    never = asyncio.Event()

    async def stuck(subject: str, data: bytes) -> None:
        await never.wait()

    try:
        assert isinstance(synapse, MemorySynapse)
        await synapse.subscribe("o.x", stuck)
        for _ in range(5):
            await synapse.publish("o.x", b"x")  # no await between: 2 kept, 3 dropped
        assert synapse.stats["dropped"] == 3
    finally:
        await synapse.close()
    with pytest.raises(ValueError):
        MemorySynapse(max_pending=0)


async def test_stuck_subscriber_drops_while_a_fast_one_gets_everything(
    wait_until: WaitUntil,
) -> None:
    bound = 4
    synapse = MemorySynapse(max_pending=bound)
    release = asyncio.Event()
    entered = asyncio.Event()
    stuck_got: list[bytes] = []
    fast_got: list[bytes] = []

    async def stuck(subject: str, data: bytes) -> None:
        stuck_got.append(data)
        entered.set()
        await release.wait()

    async def fast(subject: str, data: bytes) -> None:
        fast_got.append(data)

    try:
        await synapse.subscribe("load.x", stuck)
        await synapse.subscribe("load.>", fast)
        await synapse.publish("load.x", b"0")
        await asyncio.wait_for(entered.wait(), 10)  # the stuck handler holds frame 0
        frames = [str(i).encode() for i in range(1, 51)]
        for frame in frames:
            await synapse.publish("load.x", frame)
            # The fast subscriber keeps up: it has the frame before the next is sent.
            await wait_until(lambda f=frame: fast_got[-1:] == [f])  # type: ignore[misc]
        assert fast_got == [b"0", *frames]
        # The stuck one buffered `bound` frames and dropped the rest, counted.
        assert synapse.stats["dropped"] == len(frames) - bound
        assert synapse.stats["published"] == 51
        release.set()
        await wait_until(lambda: len(stuck_got) == 1 + bound)
        assert stuck_got == [b"0", *frames[:bound]]  # oldest kept, newest dropped
        await synapse.publish("load.x", b"after")
        await wait_until(lambda: stuck_got[-1] == b"after")
    finally:
        release.set()
        await synapse.close()


async def test_drops_stay_counted_after_unsubscribe() -> None:
    synapse = MemorySynapse(max_pending=1)
    try:
        never = asyncio.Event()

        async def stuck(subject: str, data: bytes) -> None:
            await never.wait()

        sub = await synapse.subscribe("a.b", stuck)
        for _ in range(5):
            await synapse.publish("a.b", b"x")  # no await between: 1 kept, 4 dropped
        assert synapse.stats["dropped"] == 4
        await sub.unsubscribe()
        assert synapse.stats["dropped"] == 4
        assert synapse.stats["subscriptions"] == 0
    finally:
        await synapse.close()


async def test_queue_group_members_split_and_plain_subscribers_get_all(
    memory: MemorySynapse, wait_until: WaitUntil
) -> None:
    got: dict[str, list[bytes]] = {"g1": [], "g2": [], "other-group": [], "plain": []}

    def recorder(name: str) -> Callable[[str, bytes], Awaitable[None]]:
        async def handler(subject: str, data: bytes) -> None:
            got[name].append(data)

        return handler

    await memory.subscribe("q.*", recorder("g1"), queue_group="workers")
    await memory.subscribe("q.*", recorder("g2"), queue_group="workers")
    await memory.subscribe("q.job", recorder("other-group"), queue_group="auditors")
    await memory.subscribe("q.>", recorder("plain"))
    frames = [str(i).encode() for i in range(40)]
    for frame in frames:
        await memory.publish("q.job", frame)
    await wait_until(lambda: len(got["plain"]) == 40 and len(got["g1"]) + len(got["g2"]) == 40)
    assert sorted(got["g1"] + got["g2"]) == sorted(frames)  # each exactly once
    assert got["g1"] and got["g2"]  # both members used
    assert got["other-group"] == frames  # a group of one gets everything
    assert got["plain"] == frames


async def test_handler_error_does_not_stop_the_subscription(
    memory: MemorySynapse, wait_until: WaitUntil
) -> None:
    seen: list[bytes] = []

    async def flaky(subject: str, data: bytes) -> None:
        seen.append(data)
        if data == b"boom":
            raise RuntimeError("handler bug")

    await memory.subscribe("e.x", flaky)
    await memory.publish("e.x", b"boom")
    await memory.publish("e.x", b"fine")
    await wait_until(lambda: seen == [b"boom", b"fine"])
    assert memory.stats["delivered"] == 2


async def test_closed_bus_refuses_work_and_close_is_idempotent() -> None:
    synapse = MemorySynapse()

    async def handler(subject: str, data: bytes) -> None:
        pass

    await synapse.subscribe("c.x", handler)
    await synapse.close()
    await synapse.close()
    assert synapse.closed
    with pytest.raises(SynapseClosedError):
        await synapse.publish("c.x", b"x")
    with pytest.raises(SynapseClosedError):
        await synapse.subscribe("c.x", handler)


@pytest.mark.parametrize("subject", ["a.*", "a.>", "", "a..b", "a b"])
async def test_publish_subject_is_validated(memory: MemorySynapse, subject: str) -> None:
    with pytest.raises(SubjectError):
        await memory.publish(subject, b"x")


async def test_subscribe_validates_subject_and_group(memory: MemorySynapse) -> None:
    async def handler(subject: str, data: bytes) -> None:
        pass

    with pytest.raises(SubjectError):
        await memory.subscribe("a.>.b", handler)
    with pytest.raises(SubjectError):
        await memory.subscribe("a.b", handler, queue_group="bad group")
