"""Behaviour every Synapse must show (docs/protocol.md sections 3 and 5, "Delivery")."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import pytest
from cosmonapse import FrameTooLargeError, SubjectError, Synapse

from tests.nats.helpers import eventually
from tests.transports import Transport

DEADLINE_S = 10.0
"""How long any condition may take; a condition that holds returns as soon as it does."""

_probes = itertools.count()


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


async def live(pub: Synapse, *clients: Synapse) -> None:
    """Return once every subscription made so far on each of ``clients`` is live for
    frames that ``pub`` publishes from now on.

    Each client subscribes a probe subject of its own *after* its real subscriptions and
    ``pub`` publishes on it until the probe arrives. A server handles one connection's
    lines in order, so once the probe subscription routes ``pub``'s frames, the earlier
    subscriptions (and unsubscriptions) of that connection have been handled too. Probe
    subjects are outside ``cosmonapse.ns`` and ``cosmonapse.other``, so no test
    subscription sees them.
    """
    for client in clients:
        subject = f"cosmonapse.probe.p{next(_probes)}"
        seen = asyncio.Event()

        async def on_probe(_subject: str, _data: bytes, seen: asyncio.Event = seen) -> None:
            seen.set()

        sub = await client.subscribe(subject, on_probe)

        async def _ping(subject: str = subject, seen: asyncio.Event = seen) -> None:
            while not seen.is_set():
                await pub.publish(subject, b"probe")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(seen.wait(), 0.02)

        await asyncio.wait_for(_ping(), DEADLINE_S)
        await sub.unsubscribe()


async def test_publish_reaches_exact_and_wildcard_subscribers(bus: Transport) -> None:
    pub, sub = await bus.connect(), await bus.connect()
    exact, star, tail, other = Collector(), Collector(), Collector(), Collector()
    await sub.subscribe("cosmonapse.ns.TASK", exact)
    await sub.subscribe("cosmonapse.ns.*", star)
    await sub.subscribe("cosmonapse.ns.>", tail)
    await sub.subscribe("cosmonapse.other.>", other)
    await live(pub, sub)
    await pub.publish("cosmonapse.ns.TASK", b'{"n":1}')
    await pub.publish("cosmonapse.ns.TASK.routed", b'{"n":2}')
    # Markers, each a frame its subscription must get, published after the frames that
    # must not reach it, from the same publisher to the same subscriber connection: the
    # subscription sees its frames in the order the transport received them, so a wrongly
    # matched frame would come before its marker. (NATS keeps one publisher's order on
    # the way to one subscriber connection across subjects; the dev server and the
    # memory bus route each publish in turn.)
    await pub.publish("cosmonapse.ns.TASK", b"end")  # for exact and star
    await pub.publish("cosmonapse.other.end", b"end")  # for other (and not tail)
    await pub.publish("cosmonapse.ns.end", b"end")  # for tail
    await tail.wait_for(3, DEADLINE_S)
    await exact.wait_for(2, DEADLINE_S)
    await star.wait_for(3, DEADLINE_S)
    await other.wait_for(1, DEADLINE_S)
    assert exact.items == [("cosmonapse.ns.TASK", b'{"n":1}'), ("cosmonapse.ns.TASK", b"end")]
    assert star.items == [  # '*' is one token only
        ("cosmonapse.ns.TASK", b'{"n":1}'),
        ("cosmonapse.ns.TASK", b"end"),
        ("cosmonapse.ns.end", b"end"),
    ]
    assert [s for s, _ in tail.items] == [
        "cosmonapse.ns.TASK",
        "cosmonapse.ns.TASK.routed",
        "cosmonapse.ns.TASK",
        "cosmonapse.ns.end",
    ]
    assert other.items == [("cosmonapse.other.end", b"end")]


async def test_queue_group_delivers_each_message_to_exactly_one_member(bus: Transport) -> None:
    pub = await bus.connect()
    members = [Collector() for _ in range(3)]
    clients = []
    for m in members:
        client = await bus.connect()
        await client.subscribe("cosmonapse.ns.TASK", m, queue_group="workers")
        clients.append(client)
    watcher = Collector()
    watching = await bus.connect()
    await watching.subscribe("cosmonapse.ns.TASK", watcher)
    await live(pub, *clients, watching)
    for i in range(60):
        await pub.publish("cosmonapse.ns.TASK", str(i).encode())
    await watcher.wait_for(60, DEADLINE_S)
    # A duplicate of frame i reaches its member before any frame published after i, so
    # once every member has got an "end" marker (published after all 60) each member has
    # everything it will ever get of the 60. The group picks members, so publish markers
    # until each has one.
    ends = 0

    def every_member_ended() -> bool:
        return all((("cosmonapse.ns.TASK", b"end") in m.items) for m in members)

    async def _mark() -> None:
        nonlocal ends
        while not every_member_ended():
            await pub.publish("cosmonapse.ns.TASK", b"end")
            ends += 1
            # one marker at a time: wait until the group has delivered this one
            await eventually(lambda n=ends: sum(len(m.items) for m in members) >= 60 + n)

    await asyncio.wait_for(_mark(), DEADLINE_S)
    got = sorted(int(d) for m in members for _, d in m.items if d != b"end")
    assert got == list(range(60))  # every message once, none twice
    assert sum(1 for m in members for _, d in m.items if d == b"end") == ends
    assert sum(1 for m in members if m.items) >= 2  # and spread over members


async def test_order_is_kept_per_subscription_for_publish_and_post_alike(
    bus: Transport,
) -> None:
    # Synapse.post: None when the frame was queued at once, else an awaitable that
    # finishes the send; either way the frame joins publish's order.
    pub = await bus.connect()
    c = Collector()
    client = await bus.connect()
    await client.subscribe("cosmonapse.ns.>", c)
    await live(pub, client)
    for i in range(200):
        if i % 2:
            sending = pub.post("cosmonapse.ns.AGENT_OUTPUT", str(i).encode())
            if sending is not None:
                await sending
        else:
            await pub.publish("cosmonapse.ns.AGENT_OUTPUT", str(i).encode())
    await c.wait_for(200, DEADLINE_S)
    assert [int(d) for _, d in c.items] == list(range(200))


async def test_handler_error_is_not_fatal(bus: Transport) -> None:
    pub = await bus.connect()
    seen: list[bytes] = []

    async def flaky(subject: str, data: bytes) -> None:
        seen.append(data)
        if data == b"boom":
            raise RuntimeError("handler failure")

    client = await bus.connect()
    await client.subscribe("cosmonapse.ns.TASK", flaky)
    await live(pub, client)
    await pub.publish("cosmonapse.ns.TASK", b"boom")
    await pub.publish("cosmonapse.ns.TASK", b"after")
    await eventually(lambda: len(seen) >= 2, DEADLINE_S)
    assert seen == [b"boom", b"after"]


async def test_unsubscribe_stops_delivery(bus: Transport) -> None:
    pub = await bus.connect()
    c, keep = Collector(), Collector()
    client = await bus.connect()
    s = await client.subscribe("cosmonapse.ns.TASK", c)
    await client.subscribe("cosmonapse.ns.TASK", keep)
    await live(pub, client)
    await pub.publish("cosmonapse.ns.TASK", b"1")
    await c.wait_for(1, DEADLINE_S)
    await s.unsubscribe()
    # The unsubscribe is handled before the probe subscription that live() makes after
    # it on the same connection, so frames published from here on are routed without c.
    await live(pub, client)
    await pub.publish("cosmonapse.ns.TASK", b"2")
    # The marker for c: keep shares c's connection and subject, so "2" goes out to both
    # or to neither on every transport; by the time keep has it, a copy meant for c has
    # been handed to c's subscription as well.
    await keep.wait_for(2, DEADLINE_S)
    assert [d for _, d in c.items] == [b"1"]


async def test_slow_handler_does_not_block_other_subscribers(bus: Transport) -> None:
    pub = await bus.connect()
    release = asyncio.Event()

    async def stuck(subject: str, data: bytes) -> None:
        await release.wait()

    fast = Collector()
    stuck_client, fast_client = await bus.connect(), await bus.connect()
    await stuck_client.subscribe("cosmonapse.ns.TASK", stuck)
    await fast_client.subscribe("cosmonapse.ns.TASK", fast)
    await live(pub, stuck_client, fast_client)
    for i in range(50):
        await pub.publish("cosmonapse.ns.TASK", str(i).encode())
    await fast.wait_for(50, DEADLINE_S)
    release.set()


@pytest.mark.parametrize(
    "subject", ["", "cosmonapse.ns. TASK", "cosmonapse..TASK", "cosmonapse.ns.\x00", "a.*.b", "a.>"]
)
async def test_invalid_publish_subject_is_refused(bus: Transport, subject: str) -> None:
    pub = await bus.connect()
    with pytest.raises(SubjectError):
        await pub.publish(subject, b"x")
    with pytest.raises(SubjectError):  # post refuses it too, now or when awaited
        sending = pub.post(subject, b"x")
        if sending is not None:
            await sending


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
    await live(pub, sub)
    signal = Signal(
        type=SignalType.TASK,
        payload={"input": {"text": 'quotes " and \\ back\nslash, tab\t, ünïcödé ✓, 🙂, \u2028'}},
    )
    frames = [signal.encode(), b"{}", "plain text ✓".encode()]
    for frame in frames:
        await pub.publish("cosmonapse.ns.TASK", frame)
    await c.wait_for(3, DEADLINE_S)
    assert [d for _, d in c.items] == frames
    assert Signal.decode(c.items[0][1]) == signal


async def test_frame_over_the_limit_is_refused_and_the_synapse_keeps_working(
    bus: Transport,
) -> None:
    pub, sub = await bus.connect(), await bus.connect()
    c = Collector()
    await sub.subscribe("cosmonapse.ns.TASK", c)
    await live(pub, sub)
    limit = pub.max_frame_bytes
    if limit is None:  # no limit: a large frame simply arrives
        big = b"x" * (2 * 1_048_576)
        await pub.publish("cosmonapse.ns.TASK", big)
        await c.wait_for(1, DEADLINE_S)
        assert c.items == [("cosmonapse.ns.TASK", big)]
        return
    with pytest.raises(FrameTooLargeError) as info:
        await pub.publish("cosmonapse.ns.TASK", b"x" * (limit + 1))
    assert info.value.limit == limit
    await pub.publish("cosmonapse.ns.TASK", b"after")
    await c.wait_for(1, DEADLINE_S)
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
    await live(client, client)
    await client.publish("cosmonapse.ns.TASK", b"t1")
    await eventually(lambda: bool(answered), DEADLINE_S)
    assert answered == [b"reply to t1"]
