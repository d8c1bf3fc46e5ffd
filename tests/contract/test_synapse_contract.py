"""Behaviour every Synapse must show (PROTOCOL.md sections 3 and 5, "Delivery")."""

from __future__ import annotations

import asyncio

import pytest
from cosmonapse import FrameTooLargeError, SubjectError, Synapse

from tests.transports import Transport


class Collector:
    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.event = asyncio.Event()

    async def __call__(self, subject: str, data: bytes) -> None:
        self.items.append((subject, data))
        self.event.set()

    async def wait_for(self, n: int, within_s: float = 5.0) -> None:
        async def _wait() -> None:
            while len(self.items) < n:
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(_wait(), within_s)


async def settle(synapse: Synapse) -> None:
    """Give a networked transport time to propagate a subscription."""
    await asyncio.sleep(0.05)


async def test_publish_reaches_exact_and_wildcard_subscribers(bus: Transport) -> None:
    pub, sub = await bus.connect(), await bus.connect()
    exact, star, tail, other = Collector(), Collector(), Collector(), Collector()
    await sub.subscribe("cosmonapse.ns.TASK", exact)
    await sub.subscribe("cosmonapse.ns.*", star)
    await sub.subscribe("cosmonapse.ns.>", tail)
    await sub.subscribe("cosmonapse.other.>", other)
    await settle(sub)
    await pub.publish("cosmonapse.ns.TASK", b'{"n":1}')
    await pub.publish("cosmonapse.ns.TASK.routed", b'{"n":2}')
    await tail.wait_for(2)
    await exact.wait_for(1)
    await star.wait_for(1)
    await asyncio.sleep(0.05)
    assert exact.items == [("cosmonapse.ns.TASK", b'{"n":1}')]
    assert star.items == [("cosmonapse.ns.TASK", b'{"n":1}')]  # '*' is one token only
    assert [s for s, _ in tail.items] == ["cosmonapse.ns.TASK", "cosmonapse.ns.TASK.routed"]
    assert other.items == []


async def test_queue_group_delivers_each_message_to_exactly_one_member(bus: Transport) -> None:
    pub = await bus.connect()
    members = [Collector() for _ in range(3)]
    for m in members:
        await (await bus.connect()).subscribe("cosmonapse.ns.TASK", m, queue_group="workers")
    watcher = Collector()
    await (await bus.connect()).subscribe("cosmonapse.ns.TASK", watcher)
    await settle(pub)
    for i in range(60):
        await pub.publish("cosmonapse.ns.TASK", str(i).encode())
    await watcher.wait_for(60)
    await asyncio.sleep(0.1)
    got = sorted(int(d) for m in members for _, d in m.items)
    assert got == list(range(60))  # every message once, none twice
    assert sum(1 for m in members if m.items) >= 2  # and spread over members


async def test_order_is_kept_per_subscription(bus: Transport) -> None:
    pub = await bus.connect()
    c = Collector()
    await (await bus.connect()).subscribe("cosmonapse.ns.>", c)
    await settle(pub)
    for i in range(200):
        await pub.publish("cosmonapse.ns.AGENT_OUTPUT", str(i).encode())
    await c.wait_for(200)
    assert [int(d) for _, d in c.items] == list(range(200))


async def test_handler_error_is_not_fatal(bus: Transport) -> None:
    pub = await bus.connect()
    seen: list[bytes] = []

    async def flaky(subject: str, data: bytes) -> None:
        seen.append(data)
        if data == b"boom":
            raise RuntimeError("handler failure")

    await (await bus.connect()).subscribe("cosmonapse.ns.TASK", flaky)
    await settle(pub)
    await pub.publish("cosmonapse.ns.TASK", b"boom")
    await pub.publish("cosmonapse.ns.TASK", b"after")
    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.02)
    assert seen == [b"boom", b"after"]


async def test_unsubscribe_stops_delivery(bus: Transport) -> None:
    pub = await bus.connect()
    c, keep = Collector(), Collector()
    client = await bus.connect()
    s = await client.subscribe("cosmonapse.ns.TASK", c)
    await client.subscribe("cosmonapse.ns.TASK", keep)
    await settle(pub)
    await pub.publish("cosmonapse.ns.TASK", b"1")
    await c.wait_for(1)
    await s.unsubscribe()
    await settle(pub)
    await pub.publish("cosmonapse.ns.TASK", b"2")
    await keep.wait_for(2)
    await asyncio.sleep(0.05)
    assert [d for _, d in c.items] == [b"1"]


async def test_slow_handler_does_not_block_other_subscribers(bus: Transport) -> None:
    pub = await bus.connect()
    release = asyncio.Event()

    async def stuck(subject: str, data: bytes) -> None:
        await release.wait()

    fast = Collector()
    await (await bus.connect()).subscribe("cosmonapse.ns.TASK", stuck)
    await (await bus.connect()).subscribe("cosmonapse.ns.TASK", fast)
    await settle(pub)
    for i in range(50):
        await pub.publish("cosmonapse.ns.TASK", str(i).encode())
    await fast.wait_for(50)
    release.set()


@pytest.mark.parametrize(
    "subject", ["", "cosmonapse.ns. TASK", "cosmonapse..TASK", "cosmonapse.ns.\x00", "a.*.b", "a.>"]
)
async def test_invalid_publish_subject_is_refused(bus: Transport, subject: str) -> None:
    pub = await bus.connect()
    with pytest.raises(SubjectError):
        await pub.publish(subject, b"x")


async def test_close_is_idempotent(bus: Transport) -> None:
    client = await bus.connect()
    await client.close()
    await client.close()
    assert client.closed


async def test_frames_round_trip_byte_for_byte(bus: Transport) -> None:
    from cosmonapse import Signal, SignalType

    pub, sub = await bus.connect(), await bus.connect()
    c = Collector()
    await sub.subscribe("cosmonapse.ns.>", c)
    await settle(sub)
    signal = Signal(
        type=SignalType.TASK,
        payload={"input": {"text": 'quotes " and \\ back\nslash, tab\t, ünïcödé ✓, 🙂, \u2028'}},
    )
    frames = [signal.encode(), b"{}", "plain text ✓".encode()]
    for frame in frames:
        await pub.publish("cosmonapse.ns.TASK", frame)
    await c.wait_for(3)
    assert [d for _, d in c.items] == frames
    assert Signal.decode(c.items[0][1]) == signal


async def test_frame_over_the_limit_is_refused_and_the_synapse_keeps_working(
    bus: Transport,
) -> None:
    pub, sub = await bus.connect(), await bus.connect()
    c = Collector()
    await sub.subscribe("cosmonapse.ns.TASK", c)
    await settle(sub)
    limit = pub.max_frame_bytes
    if limit is None:  # no limit: a large frame simply arrives
        big = b"x" * (2 * 1_048_576)
        await pub.publish("cosmonapse.ns.TASK", big)
        await c.wait_for(1)
        assert c.items == [("cosmonapse.ns.TASK", big)]
        return
    with pytest.raises(FrameTooLargeError) as info:
        await pub.publish("cosmonapse.ns.TASK", b"x" * (limit + 1))
    assert info.value.limit == limit
    await pub.publish("cosmonapse.ns.TASK", b"after")
    await c.wait_for(1)
    assert c.items == [("cosmonapse.ns.TASK", b"after")]


async def test_a_handler_may_await_a_message_of_another_subscription(bus: Transport) -> None:
    """A Neuron waiting on a reply that arrives over its own connection never deadlocks."""
    client = await bus.connect()
    replies: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
    answered: list[bytes] = []

    async def on_reply(subject: str, data: bytes) -> None:
        replies.put_nowait(data)

    async def on_task(subject: str, data: bytes) -> None:
        await client.publish("cosmonapse.ns.AGENT_OUTPUT", b"reply to " + data)
        answered.append(await asyncio.wait_for(replies.get(), 5))

    await client.subscribe("cosmonapse.ns.AGENT_OUTPUT", on_reply)
    await client.subscribe("cosmonapse.ns.TASK", on_task)
    await settle(client)
    await client.publish("cosmonapse.ns.TASK", b"t1")
    for _ in range(250):
        if answered:
            break
        await asyncio.sleep(0.02)
    assert answered == [b"reply to t1"]
