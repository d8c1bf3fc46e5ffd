"""Fast paths of NatsSynapse. Plain handlers are called straight from the client's read
loop (synapses/_nats_client.py): the same delivery as through nats-py's queue, minus the
queue. A published subject is checked once and then remembered as valid."""

from __future__ import annotations

import asyncio
import logging

import pytest
from cosmonapse import FrameTooLargeError, SubjectError, SynapseClosedError, connect_synapse
from cosmonapse.synapses.nats import NatsSynapse

from tests.nats.helpers import Received, eventually
from tests.nats_servers import NatsServer


async def open_nats(url: str) -> NatsSynapse:
    synapse = await connect_synapse(url)
    assert isinstance(synapse, NatsSynapse)
    return synapse


async def test_a_plain_handler_skips_the_queue_and_sees_every_frame_in_order(
    nats_server: NatsServer,
) -> None:
    pub, sub = await open_nats(nats_server.url), await open_nats(nats_server.url)
    got: list[tuple[str, bytes]] = []
    tasks: list[asyncio.Task[object] | None] = []

    def plain(subject: str, data: bytes) -> None:
        got.append((subject, data))
        tasks.append(asyncio.current_task())

    queued = Received()  # an async handler: nats-py's queue and task, as before
    try:
        await sub.subscribe("cosmonapse.direct.>", plain)
        await sub.subscribe("cosmonapse.direct.>", queued)
        for i in range(200):
            await pub.publish(f"cosmonapse.direct.T{i % 3}", str(i).encode())
        await queued.wait_for(200)
        await eventually(lambda: len(got) == 200)
        assert got == queued.items  # same frames, same order
        assert got[7] == ("cosmonapse.direct.T1", b"7")
        # called from the read loop, not from a delivery task of the subscription
        direct = [s for s in sub._subs.values() if s._handler is plain]
        assert len(direct) == 1 and direct[0].task is None
        assert sub.stats["delivered"] == 400
    finally:
        await pub.close()
        await sub.close()


async def test_a_plain_handler_that_raises_is_logged_and_delivery_goes_on(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    pub, sub = await open_nats(nats_server.url), await open_nats(nats_server.url)
    seen: list[bytes] = []

    def fragile(subject: str, data: bytes) -> None:
        seen.append(data)
        if data == b"1":
            raise RuntimeError("boom")

    try:
        await sub.subscribe("cosmonapse.fragile.X", fragile)
        with caplog.at_level(logging.ERROR, logger="cosmonapse.synapse"):
            for i in range(3):
                await pub.publish("cosmonapse.fragile.X", str(i).encode())
            await eventually(lambda: len(seen) == 3)
        assert seen == [b"0", b"1", b"2"]
        assert "boom" in caplog.text
    finally:
        await pub.close()
        await sub.close()


async def test_a_plain_handler_returning_an_awaitable_has_it_run(
    nats_server: NatsServer,
) -> None:
    pub, sub = await open_nats(nats_server.url), await open_nats(nats_server.url)
    done: list[bytes] = []

    async def later(data: bytes) -> None:
        await asyncio.sleep(0)
        done.append(data)

    try:
        await sub.subscribe("cosmonapse.later.X", lambda subject, data: later(data))
        await pub.publish("cosmonapse.later.X", b"a")
        await eventually(lambda: done == [b"a"])
    finally:
        await pub.close()
        await sub.close()


async def test_after_unsubscribe_a_plain_handler_hears_nothing(
    nats_server: NatsServer,
) -> None:
    pub, sub = await open_nats(nats_server.url), await open_nats(nats_server.url)
    got: list[bytes] = []
    keep = Received()
    try:
        subscription = await sub.subscribe("cosmonapse.gone.X", lambda s, d: got.append(d))
        await sub.subscribe("cosmonapse.gone.X", keep)
        await pub.publish("cosmonapse.gone.X", b"1")
        await keep.wait_for(1)
        await eventually(lambda: got == [b"1"])
        assert len(sub._client.direct) == 1  # the plain handler only
        await subscription.unsubscribe()
        assert sub._client.direct == {}
        await pub.publish("cosmonapse.gone.X", b"2")
        await keep.wait_for(2)
        await asyncio.sleep(0.05)
        assert got == [b"1"]
    finally:
        await pub.close()
        await sub.close()


async def test_a_subject_remembered_as_valid_does_not_let_a_bad_one_through(
    nats_server: NatsServer,
) -> None:
    pub = await open_nats(nats_server.url)
    try:
        for _ in range(2):
            await pub.publish("cosmonapse.ok.TASK", b"x")
            for bad in ("cosmonapse.ok.*", "cosmonapse..TASK", "cosmonapse.ok TASK", ""):
                with pytest.raises(SubjectError):
                    await pub.publish(bad, b"x")
        with pytest.raises(SubjectError):
            await pub.publish(b"cosmonapse.ok.TASK", b"x")  # type: ignore[arg-type]
        assert pub.stats["published"] == 2
    finally:
        await pub.close()


async def test_post_queues_at_once_once_a_subject_is_known_and_keeps_publish_order(
    nats_server: NatsServer,
) -> None:
    pub, sub = await open_nats(nats_server.url), await open_nats(nats_server.url)
    inbox = Received()
    try:
        await sub.subscribe("cosmonapse.post.>", inbox)
        first = pub.post("cosmonapse.post.A", b"0")  # a subject never published: publish
        assert first is not None
        await first
        for i in range(1, 303):  # post and publish interleaved, one order on the wire
            if i % 3:
                assert pub.post("cosmonapse.post.A", str(i).encode()) is None
            else:
                await pub.publish("cosmonapse.post.A", str(i).encode())
        await inbox.wait_for(303)
        # The flusher is idle now: post must wake it, as Client.publish would, or the
        # frames wait for the next flush of some other kind (white-box: nats-py's queue).
        client = pub._client
        assert client._flush_queue is not None and client._flush_queue.empty()
        for i in range(303, 306):
            assert pub.post("cosmonapse.post.A", str(i).encode()) is None
            assert client._flush_queue.qsize() == 1  # woken once, not once a frame
        await inbox.wait_for(306)
        assert [int(data) for _, data in inbox.items] == list(range(306))
        assert pub.stats["published"] == 306
        # past the server's max_payload: no shortcut; publish's error when awaited
        too_big = pub.post("cosmonapse.post.A", b"x" * (pub._client.max_payload + 1))
        assert too_big is not None
        with pytest.raises(FrameTooLargeError):
            await too_big
    finally:
        await pub.close()
        await sub.close()
    # closed: no shortcut either
    after = pub.post("cosmonapse.post.A", b"late")
    assert after is not None
    with pytest.raises(SynapseClosedError):
        await after


async def test_post_takes_publish_while_disconnected_and_the_frame_is_sent_on_reconnect(
    nats_server: NatsServer,
) -> None:
    pub = await open_nats(nats_server.url)
    try:
        await pub.publish("cosmonapse.post.B", b"known")
        nats_server.stop()
        await eventually(lambda: pub.connected_server is None)
        pending = pub.post("cosmonapse.post.B", b"while down")
        assert pending is not None  # nats-py's reconnect buffer, through publish
        await pending
        nats_server.restart()
        await eventually(lambda: pub.connected_server is not None, within=30)
        await pub.publish("cosmonapse.post.B", b"reconnected")
        assert pub.post("cosmonapse.post.B", b"back") is None
    finally:
        await pub.close()


async def test_jetstream_keeps_its_own_publish_for_every_frame(js_server: NatsServer) -> None:
    # a TASK must be stored before it is sent: JetStream never takes the shortcut
    synapse = await connect_synapse(js_server.url.replace("nats://", "nats+js://"))
    try:
        await synapse.publish("cosmonapse.post.C", b"known")
        sending = synapse.post("cosmonapse.post.C", b"again")
        assert sending is not None
        await sending
        assert synapse.stats["published"] == 2
    finally:
        await synapse.close()
