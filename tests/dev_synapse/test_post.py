"""``DevSynapse.post``: a frame to a subject published before is queued at once, with no
coroutine, in one order with ``publish``; anything else takes ``publish`` and its errors."""

from __future__ import annotations

import asyncio

import pytest
from cosmonapse import EnvelopeError, FrameTooLargeError, SubjectError, SynapseClosedError
from cosmonapse.synapses.dev import connect
from cosmonapse_cli.server import DevSynapseServer


async def test_post_queues_at_once_in_publish_order_and_refuses_what_publish_refuses(
    server: DevSynapseServer,
) -> None:
    pub, sub = await connect(server.url), await connect(server.url)
    got: list[bytes] = []
    arrived = asyncio.Event()

    async def inbox(subject: str, data: bytes) -> None:
        got.append(data)
        arrived.set()

    async def until(count: int) -> None:
        while len(got) < count:
            arrived.clear()
            await arrived.wait()

    try:
        await sub.subscribe("cosmonapse.ns.TASK", inbox)
        first = pub.post("cosmonapse.ns.TASK", b"0")  # never published: through publish
        assert first is not None
        await first
        for i in range(1, 303):
            if i % 3:
                assert pub.post("cosmonapse.ns.TASK", str(i).encode()) is None
            else:
                await pub.publish("cosmonapse.ns.TASK", str(i).encode())
        await asyncio.wait_for(until(303), 10)
        assert got == [str(i).encode() for i in range(303)]
        assert pub.stats["published"] == 303
        # what publish refuses, post refuses too (now or when awaited), and sends nothing
        for subject, data, error in [
            ("cosmonapse.ns.*", b"x", SubjectError),
            ("cosmonapse.ns.TASK", b"x" * 1_048_577, FrameTooLargeError),
            ("cosmonapse.ns.TASK", b'"' * 600_000, FrameTooLargeError),  # the line is over
            ("cosmonapse.ns.TASK", b"\xff\xfe", EnvelopeError),
        ]:
            with pytest.raises(error):
                sending = pub.post(subject, data)
                assert sending is not None
                await sending
        assert pub.stats["published"] == 303
        assert server.stats["oversized_lines"] == 0
    finally:
        await pub.close()
        await sub.close()
    after = pub.post("cosmonapse.ns.TASK", b"late")
    assert after is not None
    with pytest.raises(SynapseClosedError):
        await after
