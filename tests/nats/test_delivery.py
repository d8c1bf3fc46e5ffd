"""Delivery on NATS: frame limits, interop with plain NATS clients, slow consumers, drain."""

from __future__ import annotations

import asyncio

import nats
import pytest
from cosmonapse import (
    FrameTooLargeError,
    Signal,
    SignalType,
    SynapseClosedError,
    connect_synapse,
)
from cosmonapse.builders import task_signal
from cosmonapse.subjects import capability_group, routed_task_subject, signal_subject
from cosmonapse.synapses.nats import NatsSynapse
from nats.aio.client import Client
from nats.aio.msg import Msg

from tests.nats.helpers import Received, eventually
from tests.nats_servers import NatsServer


async def open_nats(url: str, **options: object) -> NatsSynapse:
    synapse = await connect_synapse(url, **options)
    assert isinstance(synapse, NatsSynapse)
    return synapse


async def plain_flush(client: Client) -> None:
    """Make sure the server has seen a plain client's SUB: nats-py sends PING ahead of
    commands still in its buffer, so the first PONG can come back too early."""
    await client.flush()
    await client.flush()


# -- frame limit ------------------------------------------------------------------------


async def test_frame_limit_is_the_servers_max_payload() -> None:
    with NatsServer(config="max_payload: 2048") as server:
        pub, sub = await open_nats(server.url), await open_nats(server.url)
        try:
            assert pub.max_frame_bytes == 2048
            got = Received()
            await sub.subscribe("cosmonapse.big.>", got)
            with pytest.raises(FrameTooLargeError) as info:
                await pub.publish("cosmonapse.big.TASK", b"x" * 2049)
            assert (info.value.size, info.value.limit) == (2049, 2048)
            assert pub.stats["published"] == 0  # refused before anything was sent
            await pub.publish("cosmonapse.big.TASK", b"y" * 2048)  # exactly the limit is fine
            await pub.publish("cosmonapse.big.AFTER", b"z")  # and the connection is intact
            await got.wait_for(2)
            assert got.items == [
                ("cosmonapse.big.TASK", b"y" * 2048),
                ("cosmonapse.big.AFTER", b"z"),
            ]
        finally:
            await pub.close()
            await sub.close()


# -- the subject and queue-group mapping, seen from a plain NATS client -------------------


async def test_subjects_queue_groups_and_bytes_map_one_to_one(nats_server: NatsServer) -> None:
    """A peer speaking docs/protocol.md over plain nats-py shares the bus with a NatsSynapse."""
    plain = await nats.connect(nats_server.url)
    synapse = await open_nats(nats_server.url)
    try:
        frame = task_signal(input={"text": "hello"}, neuron="echo").encode()
        subject = signal_subject("interop", SignalType.TASK)
        assert subject == "cosmonapse.interop.TASK"

        # plain client -> synapse, same subject, same bytes
        got = Received()
        await synapse.subscribe("cosmonapse.interop.>", got)
        await plain.publish(subject, frame)
        await got.wait_for(1)
        assert got.items == [(subject, frame)]
        assert Signal.decode(got.data[0]).payload == {"input": {"text": "hello"}}

        # synapse -> plain client
        seen: asyncio.Queue[Msg] = asyncio.Queue()

        async def plain_handler(msg: Msg) -> None:
            await seen.put(msg)

        await plain.subscribe(subject, cb=plain_handler)
        await plain_flush(plain)
        await synapse.publish(subject, frame)
        msg = await asyncio.wait_for(seen.get(), 10)
        assert (msg.subject, msg.data, msg.headers) == (subject, frame, None)

        # one queue group across both kinds of client: each TASK goes to exactly one member
        group = capability_group(["summarize", "translate"])
        routed = routed_task_subject("interop")
        mine = Received()
        theirs: list[bytes] = []

        async def plain_member(msg: Msg) -> None:
            theirs.append(msg.data)

        await synapse.subscribe(routed, mine, queue_group=group)
        await plain.subscribe(routed, queue=group, cb=plain_member)
        await plain_flush(plain)
        sender = await open_nats(nats_server.url)
        for i in range(200):
            await sender.publish(routed, str(i).encode())
        await eventually(lambda: len(mine.items) + len(theirs) >= 200)
        # A duplicate of frame i reaches a member before any frame the same sender
        # publishes after i, so once both members have an "end" marker (published after
        # all 200), each has everything it will get. The group picks the member, so send
        # markers one at a time until both have one.
        ends = 0
        while b"end" not in mine.data or b"end" not in theirs:
            assert ends < 1000, "the queue group never picked one of its members"
            await sender.publish(routed, b"end")
            ends += 1
            await eventually(lambda n=ends: len(mine.items) + len(theirs) >= 200 + n)
        got_all = sorted(int(d) for d in [*mine.data, *theirs] if d != b"end")
        assert got_all == list(range(200))
        assert [*mine.data, *theirs].count(b"end") == ends
        await sender.close()
    finally:
        await plain.close()
        await synapse.close()


# -- bounded buffers ---------------------------------------------------------------------


async def test_a_slow_subscription_drops_past_its_bound_and_counts_it(
    nats_server: NatsServer,
) -> None:
    pub = await open_nats(nats_server.url)
    sub = await open_nats(nats_server.url, max_pending=10)
    other = await open_nats(nats_server.url)
    release = asyncio.Event()
    handled: list[bytes] = []

    async def stuck(subject: str, data: bytes) -> None:
        await release.wait()
        handled.append(data)

    fast = Received()
    try:
        await sub.subscribe("cosmonapse.slow.TASK", stuck)
        await other.subscribe("cosmonapse.slow.TASK", fast)
        for i in range(100):
            await pub.publish("cosmonapse.slow.TASK", str(i).encode())
        await fast.wait_for(100)  # nobody else is held up by the slow subscription
        await eventually(lambda: sub.stats["dropped"] >= 1)
        release.set()
        await eventually(lambda: sub.stats["delivered"] + sub.stats["dropped"] == 100)
        dropped = sub.stats["dropped"]
        assert len(handled) == 100 - dropped
        assert 0 < dropped < 100
        survivors = [int(d) for d in handled]
        assert survivors[0] == 0 and survivors == sorted(set(survivors))  # in order, no repeats
    finally:
        release.set()
        await pub.close()
        await sub.close()
        await other.close()


# -- unsubscribe and close ------------------------------------------------------------------


async def test_unsubscribe_from_inside_the_handler_lets_it_finish(
    nats_server: NatsServer,
) -> None:
    synapse = await open_nats(nats_server.url)
    finished: list[bytes] = []
    subscription = None

    async def once(subject: str, data: bytes) -> None:
        assert subscription is not None
        await subscription.unsubscribe()
        await asyncio.sleep(0)  # a cancelled handler would stop here
        finished.append(data)

    try:
        subscription = await synapse.subscribe("cosmonapse.once.TASK", once)
        await synapse.publish("cosmonapse.once.TASK", b"1")
        await eventually(lambda: finished == [b"1"])
        await synapse.publish("cosmonapse.once.TASK", b"2")
        probe = Received()
        await synapse.subscribe("cosmonapse.once.TASK", probe)
        await synapse.publish("cosmonapse.once.TASK", b"3")
        await probe.wait_for(1)
        assert finished == [b"1"]
        assert synapse.stats["subscriptions"] == 1
    finally:
        await synapse.close()


async def test_close_drains_buffered_messages_and_publishes(nats_server: NatsServer) -> None:
    pub = await open_nats(nats_server.url)
    sub = await open_nats(nats_server.url, drain_timeout=30)
    gate = asyncio.Event()
    handled: list[bytes] = []

    async def gated(subject: str, data: bytes) -> None:
        await gate.wait()
        handled.append(data)

    watcher = Received()
    await sub.subscribe("cosmonapse.drain.TASK", gated)
    await sub.subscribe("cosmonapse.drain.TASK", watcher)
    for i in range(5):
        await pub.publish("cosmonapse.drain.TASK", str(i).encode())
    await pub.close()  # drains: the five publishes reach the server before it disconnects
    await watcher.wait_for(5)
    closing = asyncio.create_task(sub.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # waiting for the gated handler's buffered messages
    gate.set()
    await asyncio.wait_for(closing, 10)
    assert handled == [b"0", b"1", b"2", b"3", b"4"]
    assert sub.closed and pub.closed
    with pytest.raises(SynapseClosedError):
        await sub.publish("cosmonapse.drain.TASK", b"late")
    with pytest.raises(SynapseClosedError):
        await sub.subscribe("cosmonapse.drain.TASK", watcher)
    await sub.close()  # idempotent


async def test_close_from_inside_a_handler_does_not_wait_for_itself(
    nats_server: NatsServer,
) -> None:
    synapse = await open_nats(nats_server.url, drain_timeout=30)
    closed = asyncio.Event()

    async def closer(subject: str, data: bytes) -> None:
        try:
            await synapse.close()
        finally:
            closed.set()

    await synapse.subscribe("cosmonapse.self.TASK", closer)
    await synapse.publish("cosmonapse.self.TASK", b"close")
    await asyncio.wait_for(closed.wait(), 10)  # not the 30 s drain_timeout
    assert synapse.closed
