"""Bad input and limits (docs/protocol.md section 4, "Limits"): each gets an ``err`` that says
what was wrong; only an oversized line or a slow consumer ends a connection, and only
that one."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from cosmonapse_cli.server import DevSynapseServer, ServerLimits, is_loopback

BAD_LINES = [
    (b"{not json\n", "malformed JSON"),
    (b"[1, 2]\n", "must be a JSON object, got an array"),
    (b'"hello"\n', "must be a JSON object, got a string"),
    (b'{"op":"pub","subject":"cosmonapse.ns.TASK","frame":"\xff\xfe"}\n', "not valid UTF-8"),
    (b'{"frame":"x"}\n', "missing field 'op'"),
    (b'{"op":5}\n', "field 'op' must be a string"),
    (b'{"op":"explode"}\n', "unknown op 'explode'"),
    (b'{"op":"pub","frame":"x"}\n', "pub: missing field 'subject'"),
    (b'{"op":"pub","subject":"cosmonapse.ns.TASK"}\n', "pub: missing field 'frame'"),
    (b'{"op":"pub","subject":"cosmonapse.ns.TASK","frame":5}\n', "field 'frame' must be a string"),
    (b'{"op":"sub","subject":"cosmonapse.ns.>"}\n', "sub: missing field 'sub_id'"),
    (b'{"op":"sub","sub_id":"s"}\n', "sub: missing field 'subject'"),
    (b'{"op":"unsub"}\n', "unsub: missing field 'sub_id'"),
    (b'{"op":"ns_register"}\n', "ns_register: missing field 'namespace'"),
    (b'{"op":"mgmt_info"}\n', "mgmt_info: missing field 'namespace'"),
    (b'{"op":"mgmt_stop"}\n', "mgmt_stop: missing field 'namespace'"),
    (b'{"op":"pub","subject":"cosmonapse.ns.*","frame":"x"}\n', "pub: invalid subject"),
    (b'{"op":"pub","subject":"cosmonapse..TASK","frame":"x"}\n', "empty token"),
    (b'{"op":"pub","subject":"cosmonapse.ns. TASK","frame":"x"}\n', "whitespace"),
    (b'{"op":"sub","sub_id":"s","subject":"a.>.b"}\n', "sub: invalid subject"),
    (b'{"op":"sub","sub_id":"s","subject":"a.b","queue_group":"two words"}\n', "queue_group"),
    (b'{"op":"sub","sub_id":"s","subject":"a.b","queue_group":7}\n', "string or null"),
    (b'{"op":"ns_register","namespace":"a.b"}\n', "ns_register: invalid namespace"),
    (b'{"op":"ns_register","namespace":"ns","transport":3}\n', "'transport' must be a string"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
async def test_bad_line_gets_a_clear_err_and_keeps_the_connection(
    server: DevSynapseServer, raw, line: bytes, reason: str
) -> None:
    client = await raw(server)
    message = await client.expect_err(line)
    assert reason in message
    assert server.stats["protocol_errors"] == 1


async def test_bad_lines_never_disturb_other_clients(server: DevSynapseServer, raw) -> None:
    listener, noisy = await raw(server), await raw(server)
    await listener.send({"op": "sub", "sub_id": "s", "subject": "cosmonapse.ns.TASK"})
    assert await listener.request({"op": "ping"}) == {"op": "pong"}
    for line, _ in BAD_LINES:
        await noisy.send(line)
        await noisy.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": "ok"})
    for _ in BAD_LINES:
        assert (await listener.recv())["frame"] == "ok"
    replies = [await noisy.recv() for _ in BAD_LINES]
    assert {r["op"] for r in replies} == {"err"}


async def test_duplicate_sub_id_is_refused(server: DevSynapseServer, raw) -> None:
    client = await raw(server)
    await client.send({"op": "sub", "sub_id": "s1", "subject": "a.b"})
    message = await client.expect_err({"op": "sub", "sub_id": "s1", "subject": "c.d"})
    assert "'s1' is already in use" in message


def _pub_line_of_size(size: int) -> bytes:
    """A valid ``pub`` line whose content (newline excluded) is exactly ``size`` bytes."""
    empty = orjson.dumps({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": ""})
    line = orjson.dumps(
        {"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": "x" * (size - len(empty))}
    )
    assert len(line) == size
    return line + b"\n"


async def test_default_line_limit_is_one_mebibyte(server: DevSynapseServer, raw) -> None:
    assert server.limits.max_line_bytes == 1_048_576
    listener = await raw(server, limit=4 * 1_048_576)
    await listener.send({"op": "sub", "sub_id": "s", "subject": "cosmonapse.ns.TASK"})
    assert await listener.request({"op": "ping"}) == {"op": "pong"}
    client = await raw(server)
    await client.send(_pub_line_of_size(1_048_576))  # exactly at the limit: accepted
    assert await client.request({"op": "ping"}) == {"op": "pong"}
    assert len((await listener.recv())["frame"]) > 1_000_000

    await client.send(_pub_line_of_size(1_048_577))
    reply = await client.recv()
    assert reply["op"] == "err"
    assert "line too long" in reply["message"] and "1048576" in reply["message"]
    assert await client.at_eof()
    assert server.stats["oversized_lines"] == 1
    # only that connection ended
    assert await listener.request({"op": "ping"}) == {"op": "pong"}


async def test_line_limit_is_configurable_and_ends_only_that_connection(raw, eventually) -> None:
    limits = ServerLimits(max_line_bytes=512)
    async with DevSynapseServer("127.0.0.1", port=0, limits=limits) as srv:
        other = await raw(srv)
        client = await raw(srv)
        await client.send(_pub_line_of_size(512))
        assert await client.request({"op": "ping"}) == {"op": "pong"}
        # a long line still being streamed when the server gives up on it
        await client.send(b'{"op":"pub","frame":"' + b"y" * 100_000)
        reply = await client.recv()
        assert reply["op"] == "err" and "over the limit of 512 bytes" in reply["message"]
        assert await client.at_eof()
        assert await other.request({"op": "ping"}) == {"op": "pong"}
        await client.close()
        await eventually(lambda: srv.stats["connections"] == 1)


async def test_slow_consumer_is_dropped_and_never_holds_up_the_others(raw, eventually) -> None:
    limits = ServerLimits(max_outbound_bytes=256 * 1024, slow_consumer_grace_s=60.0)
    async with DevSynapseServer("127.0.0.1", port=0, limits=limits) as srv:
        # The slow consumer: a small receive window, and it never reads after subscribing.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (srv.host, srv.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4 * 1_048_576)
        writer.write(
            b'{"op":"sub","sub_id":"slow","subject":"cosmonapse.ns.TASK"}\n{"op":"ping"}\n'
        )
        banner = await asyncio.wait_for(reader.readline(), 5)
        assert orjson.loads(banner) == {"op": "welcome"}
        assert orjson.loads(await asyncio.wait_for(reader.readline(), 5)) == {"op": "pong"}

        fast = await raw(srv, limit=4 * 1_048_576)
        await fast.send({"op": "sub", "sub_id": "fast", "subject": "cosmonapse.ns.TASK"})
        assert await fast.request({"op": "ping"}) == {"op": "pong"}
        publisher = await raw(srv)

        frame = "z" * 16_384
        published = 0
        received: list[int] = []

        async def read_fast() -> None:
            while True:
                reply = await fast.recv(within=30)
                if reply["op"] == "msg":
                    received.append(int(reply["frame"].split(":", 1)[0]))

        reader_task = asyncio.create_task(read_fast())
        try:
            # Publish until the server gives up on the slow consumer (hang guard: 64 MiB).
            while srv.stats["slow_consumers"] == 0:
                assert published < 4096, "the slow consumer was never dropped"
                for _ in range(16):
                    await publisher.send(
                        {
                            "op": "pub",
                            "subject": "cosmonapse.ns.TASK",
                            "frame": f"{published}:{frame}",
                        }
                    )
                    published += 1
                assert await publisher.request({"op": "ping"}) == {"op": "pong"}
            await eventually(lambda: len(received) == published, within_s=30)
        finally:
            reader_task.cancel()
            await asyncio.gather(reader_task, return_exceptions=True)
        assert received == list(range(published))  # the fast one got everything, in order
        assert srv.stats["slow_consumers"] == 1
        assert srv.stats["connections"] == 2  # publisher and fast are still connected

        # The slow consumer, reading at last, finds its backlog, then the reason, then EOF.
        last = b""
        while line := await asyncio.wait_for(reader.readline(), 30):
            last = line
        assert orjson.loads(last)["op"] == "err"
        assert "slow consumer" in orjson.loads(last)["message"]
        writer.close()


async def test_server_listens_on_loopback_by_default() -> None:
    async with DevSynapseServer(port=0) as srv:
        assert srv.host == "127.0.0.1"
        assert srv.addresses and all(is_loopback(host) for host, _ in srv.addresses)
        outside = _non_loopback_address()
        if outside is not None:  # a machine with a network interface: it must not answer
            with pytest.raises(OSError):
                await asyncio.wait_for(asyncio.open_connection(outside, srv.port), 5)


def _non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if is_loopback(address) or address == "0.0.0.0" else address


async def test_connection_limit(raw) -> None:
    async with DevSynapseServer("127.0.0.1", port=0, limits=ServerLimits(max_connections=1)) as srv:
        first = await raw(srv)
        assert await first.request({"op": "hello"}) == {"op": "welcome"}
        second = await raw(srv, read_banner=False)
        reply = await second.recv()
        assert reply["op"] == "err" and "connection limit of 1" in reply["message"]
        assert await second.at_eof()
        assert srv.stats["refused_connections"] == 1
        assert await first.request({"op": "ping"}) == {"op": "pong"}


async def test_subscription_limit(raw) -> None:
    async with DevSynapseServer(
        "127.0.0.1", port=0, limits=ServerLimits(max_subscriptions=2)
    ) as srv:
        client = await raw(srv)
        await client.send({"op": "sub", "sub_id": "a", "subject": "x.a"})
        await client.send({"op": "sub", "sub_id": "b", "subject": "x.b"})
        message = await client.expect_err({"op": "sub", "sub_id": "c", "subject": "x.c"})
        assert "subscription limit of 2" in message


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        ServerLimits(max_line_bytes=0)


async def test_a_dropped_slow_consumer_frees_its_slot_at_the_drop_and_close_ends_it(
    raw, eventually, caplog: pytest.LogCaptureFixture
) -> None:
    # A socket that never reads: what the server queued for it can only leave when the
    # grace is over and the socket is aborted (60 s here), or when the server closes.
    limits = ServerLimits(max_outbound_bytes=256 * 1024, slow_consumer_grace_s=60.0)
    srv = DevSynapseServer("127.0.0.1", port=0, limits=limits)
    await srv.start()
    never_reads = socket.create_connection((srv.host, srv.port))
    try:
        never_reads.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        never_reads.sendall(b'{"op":"sub","sub_id":"slow","subject":"cosmonapse.ns.TASK"}\n')
        publisher = await raw(srv)
        await eventually(lambda: srv.stats["subscriptions"] == 1)
        frame = "z" * 16_384
        while srv.stats["slow_consumers"] == 0:
            await publisher.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": frame})
            assert await publisher.request({"op": "ping"}) == {"op": "pong"}
        # Its read loop, its subscription and its connection slot end at the drop.
        await eventually(lambda: srv.stats["connections"] == 1, within_s=10)
        assert srv.stats["subscriptions"] == 0
        # Closing the server aborts it within the shutdown grace, backlog and all.
        await asyncio.wait_for(srv.close(), 10)
        assert "did not close in time" not in caplog.text
    finally:
        never_reads.close()
        await srv.close()
