"""The SDK's ``cosmo://`` client against the CLI's dev synapse server, and against a peer
server written by hand from docs/protocol.md section 4."""

from __future__ import annotations

import asyncio
import logging
import socket

import orjson
import pytest
from cosmonapse import (
    EnvelopeError,
    FrameTooLargeError,
    ServerError,
    SynapseClosedError,
    SynapseConnectError,
    connect_synapse,
)
from cosmonapse.synapses.dev import DevSynapse, connect
from cosmonapse_cli.server import DevSynapseServer, ServerLimits


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self._changed = asyncio.Event()

    async def __call__(self, subject: str, data: bytes) -> None:
        self.items.append((subject, data))
        self._changed.set()

    async def wait_for(self, n: int) -> None:
        async def wait() -> None:
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), 10)


# -- connecting ------------------------------------------------------------------------


async def test_clear_error_when_nothing_listens() -> None:
    port = _free_port()
    with pytest.raises(SynapseConnectError) as info:
        await connect_synapse(f"cosmo://127.0.0.1:{port}")
    message = str(info.value)
    assert f"nothing is listening at cosmo://127.0.0.1:{port} (connection refused)" in message
    assert "cosmo synapse start memory" in message


async def test_clear_error_when_the_peer_is_not_a_dev_synapse() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    async with await asyncio.start_server(http, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        with pytest.raises(SynapseConnectError, match="does not speak the dev synapse protocol"):
            await connect_synapse(f"cosmo://127.0.0.1:{port}")


async def test_clear_error_when_the_peer_never_answers_hello() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()  # the server's side too: Server.wait_closed (3.12) waits for it

    async with await asyncio.start_server(silent, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        with pytest.raises(SynapseConnectError, match="did not answer hello"):
            await connect(f"cosmo://127.0.0.1:{port}", connect_timeout=0.3)


@pytest.mark.parametrize(
    "url",
    [
        "cosmo://127.0.0.1:port",
        "cosmo://127.0.0.1:7070/path",
        "nats://127.0.0.1:4222",
        "cosmo://127.0.0.1:7070?colour=blue",
        "cosmo://127.0.0.1:7070?reconnect_attempts=many",
        "cosmo://127.0.0.1:7070?reconnect=perhaps",
    ],
)
async def test_malformed_url(url: str) -> None:
    with pytest.raises(ValueError):
        await connect(url)


async def test_default_address_is_loopback_7070() -> None:
    from cosmonapse.synapses.dev import DEFAULT_URL, parse_url

    assert DEFAULT_URL == "cosmo://127.0.0.1:7070"
    assert parse_url("cosmo://") == ("127.0.0.1", 7070, {})
    assert parse_url("cosmo://localhost:9000") == ("localhost", 9000, {})


async def test_options_in_the_url_query(server: DevSynapseServer) -> None:
    url = f"{server.url}?reconnect=false&max_frame_bytes=4096&request_timeout=2.5"
    synapse = await connect_synapse(url)
    try:
        assert synapse.url == server.url  # the query is not part of the address
        assert synapse.max_frame_bytes == 4096
        with pytest.raises(FrameTooLargeError):
            await synapse.publish("cosmonapse.ns.TASK", b"x" * 5000)
    finally:
        await synapse.close()
    keyword_wins = await connect(url, max_frame_bytes=8192)
    try:
        assert keyword_wins.max_frame_bytes == 8192
    finally:
        await keyword_wins.close()


# -- speaking the published wire -----------------------------------------------------


async def test_client_speaks_the_published_wire_to_a_hand_written_peer() -> None:
    """A server written from docs/protocol.md alone: every client line is checked exactly."""
    seen: list[dict[str, object]] = []
    done = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def line() -> dict[str, object]:
            value = orjson.loads(await asyncio.wait_for(reader.readline(), 10))
            seen.append(value)
            return value

        assert await line() == {"op": "hello"}
        writer.write(b'{"op":"welcome"}\n')
        sub = await line()
        assert sub == {
            "op": "sub",
            "sub_id": sub["sub_id"],
            "subject": "cosmonapse.ns.>",
            "queue_group": None,
        }
        assert isinstance(sub["sub_id"], str)
        assert await line() == {"op": "ping"}
        writer.write(b'{"op":"pong"}\n')
        pub = await line()
        assert pub == {
            "op": "pub",
            "subject": "cosmonapse.ns.TASK",
            "frame": '{"v":"1","payload":{"é":1}}',
        }
        reply = {"op": "msg", "sub_id": sub["sub_id"], "subject": "cosmonapse.ns.FINAL"}
        reply["frame"] = '{"v":"1","type":"FINAL"}'
        writer.write(orjson.dumps(reply) + b"\n")
        await writer.drain()
        await done.wait()
        writer.close()

    async with await asyncio.start_server(peer, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        synapse = await connect_synapse(f"cosmo://127.0.0.1:{port}")
        try:
            inbox = Inbox()
            await synapse.subscribe("cosmonapse.ns.>", inbox)
            await synapse.publish("cosmonapse.ns.TASK", '{"v":"1","payload":{"é":1}}'.encode())
            await inbox.wait_for(1)
            assert inbox.items == [("cosmonapse.ns.FINAL", b'{"v":"1","type":"FINAL"}')]
        finally:
            done.set()
            await synapse.close()
    assert [m["op"] for m in seen] == ["hello", "sub", "ping", "pub"]


@pytest.mark.parametrize(
    ("burst", "first_turn"),
    [(100, 32), (64, 32), (16, 8), (7, 4), (3, 3)],
    ids=["100 lines: 32 a turn", "64: halves", "16: halves", "7: 4 then 3", "3: one turn"],
)
async def test_a_burst_is_handled_in_turns_so_started_work_runs_between(
    burst: int, first_turn: int
) -> None:
    """msg lines arrive in one write: the client hands the event loop back after half the
    burst, or 32 lines, whichever is fewer (never fewer than 4), so what the first lines
    started runs before the rest are handled (a burst must not cross caller, server and
    worker as one convoy)."""
    sent = asyncio.Event()
    done = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert orjson.loads(await reader.readline()) == {"op": "hello"}
        writer.write(b'{"op":"welcome"}\n')
        sub = orjson.loads(await reader.readline())
        assert orjson.loads(await reader.readline()) == {"op": "ping"}
        writer.write(b'{"op":"pong"}\n')
        await writer.drain()
        await sent.wait()
        writer.write(
            b"".join(
                orjson.dumps(
                    {"op": "msg", "sub_id": sub["sub_id"], "subject": "s", "frame": str(i)}
                )
                + b"\n"
                for i in range(burst)
            )
        )
        await writer.drain()
        await done.wait()
        writer.close()

    handled: list[int] = []
    ran_after: dict[int, int] = {}  # frame -> how many frames were handled when its work ran
    all_in = asyncio.Event()

    def on_frame(subject: str, data: bytes) -> None:  # a plain handler, as a Dendrite's
        n = int(data)
        handled.append(n)
        asyncio.get_running_loop().call_soon(lambda: ran_after.setdefault(n, len(handled)))
        if len(handled) == burst:
            all_in.set()

    async with await asyncio.start_server(peer, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        synapse = await connect_synapse(f"cosmo://127.0.0.1:{port}")
        try:
            await synapse.subscribe("s", on_frame)
            sent.set()
            await asyncio.wait_for(all_in.wait(), 10)
            await asyncio.sleep(0)
        finally:
            done.set()
            await synapse.close()
    assert handled == list(range(burst))
    # the first frame's work ran once a turn's worth of lines was handled
    assert ran_after[0] == first_turn
    assert len(ran_after) == burst


# -- delivery --------------------------------------------------------------------------


async def test_waiting_on_a_reply_over_the_same_connection_does_not_deadlock(
    server: DevSynapseServer,
) -> None:
    """A handler that publishes a request and awaits its answer, which arrives over the
    very connection whose read loop delivered the request."""
    synapse = await connect_synapse(server.url)
    answers: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)
    results: list[bytes] = []

    async def answerer(subject: str, data: bytes) -> None:
        await synapse.publish("cosmonapse.ns.AGENT_OUTPUT", b"answer to " + data)

    async def on_answer(subject: str, data: bytes) -> None:
        answers.put_nowait(data)

    async def asker(subject: str, data: bytes) -> None:
        await synapse.publish("cosmonapse.ns.RECALL", data)
        results.append(await asyncio.wait_for(answers.get(), 10))

    try:
        await synapse.subscribe("cosmonapse.ns.RECALL", answerer)
        await synapse.subscribe("cosmonapse.ns.AGENT_OUTPUT", on_answer)
        await synapse.subscribe("cosmonapse.ns.TASK", asker)
        await synapse.publish("cosmonapse.ns.TASK", b"q1")
        await synapse.publish("cosmonapse.ns.TASK", b"q2")
        await asyncio.wait_for(_until(lambda: len(results) == 2), 10)
        assert results == [b"answer to q1", b"answer to q2"]
    finally:
        await synapse.close()


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    while not predicate():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_subscription_is_live_when_subscribe_returns(server: DevSynapseServer) -> None:
    sub, pub = await connect_synapse(server.url), await connect_synapse(server.url)
    try:
        inbox = Inbox()
        await sub.subscribe("cosmonapse.ns.TASK", inbox)
        await pub.publish("cosmonapse.ns.TASK", b"first")  # no sleep between the two
        await inbox.wait_for(1)
        assert inbox.items == [("cosmonapse.ns.TASK", b"first")]
    finally:
        await sub.close()
        await pub.close()


# -- limits and errors -----------------------------------------------------------------


async def test_publish_refuses_a_line_over_the_limit(server: DevSynapseServer) -> None:
    synapse = await connect(server.url)
    other = await connect(server.url)
    try:
        assert synapse.max_frame_bytes == 1_048_576
        inbox = Inbox()
        await other.subscribe("cosmonapse.ns.TASK", inbox)
        with pytest.raises(FrameTooLargeError) as info:
            await synapse.publish("cosmonapse.ns.TASK", b"x" * 1_048_577)
        assert info.value.limit == 1_048_576
        # the frame fits but its line (with the JSON string escapes) does not
        with pytest.raises(FrameTooLargeError):
            await synapse.publish("cosmonapse.ns.TASK", b'"' * 600_000)
        # the largest line that fits is accepted by the server
        overhead = len(b'{"op":"pub","subject":"cosmonapse.ns.TASK","frame":""}')
        biggest = b"y" * (1_048_576 - overhead)
        await synapse.publish("cosmonapse.ns.TASK", biggest)
        await inbox.wait_for(1)
        assert inbox.items[0][1] == biggest
        assert server.stats["oversized_lines"] == 0
        assert synapse.stats["published"] == 1
    finally:
        await synapse.close()
        await other.close()


async def test_publish_refuses_frames_that_are_not_utf8(server: DevSynapseServer) -> None:
    synapse = await connect_synapse(server.url)
    try:
        with pytest.raises(EnvelopeError, match="UTF-8"):
            await synapse.publish("cosmonapse.ns.TASK", b"\xff\xfe")
    finally:
        await synapse.close()


async def test_server_err_is_logged_counted_and_kept(
    server: DevSynapseServer, caplog: pytest.LogCaptureFixture, eventually
) -> None:
    caplog.set_level(logging.WARNING, logger="cosmonapse.synapse.dev")
    watcher = await connect(server.url)
    admin = await connect(server.url)
    try:
        await watcher.subscribe("cosmonapse.qs.>", Inbox())
        await admin.stop_namespace("qs")  # the server tells the watcher its sub ended
        await eventually(lambda: watcher.stats["server_errors"] == 1)
        assert watcher.last_server_error is not None
        assert "namespace 'qs' was stopped" in watcher.last_server_error
        assert any("answered err" in r.getMessage() for r in caplog.records)
        await watcher.flush()  # the connection is still fine
    finally:
        await watcher.close()
        await admin.close()


async def test_client_skips_a_server_line_over_its_bound(server: DevSynapseServer) -> None:
    small = await connect(server.url, max_frame_bytes=1024)  # reads lines up to 2 KiB
    pub = await connect(server.url)
    try:
        inbox = Inbox()
        await small.subscribe("cosmonapse.ns.TASK", inbox)
        await pub.publish("cosmonapse.ns.TASK", b"z" * 8192)
        await pub.publish("cosmonapse.ns.TASK", b"small")
        await inbox.wait_for(1)
        assert inbox.items == [("cosmonapse.ns.TASK", b"small")]
        assert small.stats["skipped_lines"] == 1
    finally:
        await small.close()
        await pub.close()


async def test_management_requests(server: DevSynapseServer) -> None:
    synapse = await connect(server.url)
    try:
        await synapse.register_namespace("quickstart")
        await synapse.subscribe("cosmonapse.quickstart.>", Inbox())
        await synapse.publish("cosmonapse.quickstart.TASK", b"{}")
        await synapse.flush()
        assert await synapse.list_namespaces() == ["quickstart"]
        info = await synapse.namespace_info("quickstart")
        assert info["namespace"] == "quickstart"
        assert info["registered"] is True and info["transport"] == "memory"
        assert info["subscriptions"] == 1 and info["published"] == 1
        assert info["signals"] == {"TASK": 1}
    finally:
        await synapse.close()


async def test_close_is_idempotent_and_final(server: DevSynapseServer) -> None:
    synapse = await connect_synapse(server.url)
    await synapse.close()
    await synapse.close()
    assert synapse.closed
    with pytest.raises(SynapseClosedError):
        await synapse.publish("cosmonapse.ns.TASK", b"x")
    with pytest.raises(SynapseClosedError):
        await synapse.subscribe("cosmonapse.ns.TASK", Inbox())


# -- reconnecting ----------------------------------------------------------------------


async def test_reconnects_and_resubscribes_after_a_server_restart(
    caplog: pytest.LogCaptureFixture, eventually
) -> None:
    caplog.set_level(logging.INFO, logger="cosmonapse.synapse.dev")
    first = DevSynapseServer("127.0.0.1", port=0)
    await first.start()
    port = first.port
    synapse = await connect(first.url, reconnect_delay=0.02, reconnect_max_delay=0.2)
    assert isinstance(synapse, DevSynapse)
    second = DevSynapseServer("127.0.0.1", port=port)
    try:
        inbox, grouped = Inbox(), Inbox()
        await synapse.subscribe("cosmonapse.ns.TASK", inbox)
        await synapse.subscribe("cosmonapse.ns.TASK", grouped, queue_group="workers")
        await synapse.register_namespace("ns")
        await first.close()
        await eventually(lambda: not synapse.connected)

        await second.start()
        await eventually(lambda: synapse.stats["reconnects"] == 1)
        assert synapse.connected
        await synapse.flush()  # the replayed lines were handled before this ping
        assert second.stats["subscriptions"] == 2
        assert second.namespace_info("ns")["registered"] is True

        publisher = await connect(second.url)
        try:
            await publisher.publish("cosmonapse.ns.TASK", b"after the restart")
            await inbox.wait_for(1)
            await grouped.wait_for(1)
            assert inbox.items == [("cosmonapse.ns.TASK", b"after the restart")]
        finally:
            await publisher.close()
        messages = [r.getMessage() for r in caplog.records]
        assert any("lost the connection to" in m and "reconnecting" in m for m in messages)
        assert any("reconnected to" in m and "re-subscribed 2" in m for m in messages)
    finally:
        await synapse.close()
        await first.close()
        await second.close()


async def test_publish_during_a_restart_waits_for_the_reconnect(eventually) -> None:
    first = DevSynapseServer("127.0.0.1", port=0)
    await first.start()
    synapse = await connect(first.url, reconnect_delay=0.02, reconnect_max_delay=0.1)
    second = DevSynapseServer("127.0.0.1", port=first.port)
    try:
        inbox = Inbox()
        await synapse.subscribe("cosmonapse.ns.TASK", inbox)
        await first.close()
        await eventually(lambda: not synapse.connected)
        pending = asyncio.create_task(synapse.publish("cosmonapse.ns.TASK", b"queued"))
        await asyncio.sleep(0)  # the publish is now waiting for a connection
        assert not pending.done()
        await second.start()
        await asyncio.wait_for(pending, 10)
        await inbox.wait_for(1)
        assert inbox.items == [("cosmonapse.ns.TASK", b"queued")]
    finally:
        await synapse.close()
        await second.close()


async def test_gives_up_after_bounded_retries_with_a_clear_error(
    caplog: pytest.LogCaptureFixture, eventually
) -> None:
    caplog.set_level(logging.INFO, logger="cosmonapse.synapse.dev")
    server = DevSynapseServer("127.0.0.1", port=0, limits=ServerLimits())
    await server.start()
    synapse = await connect(
        server.url, reconnect_attempts=3, reconnect_delay=0.01, reconnect_max_delay=0.02
    )
    try:
        await server.close()
        await eventually(lambda: synapse.closed)
        with pytest.raises(SynapseConnectError, match=r"could not reconnect .* after 3 attempts"):
            await synapse.publish("cosmonapse.ns.TASK", b"x")
        messages = [r.getMessage() for r in caplog.records]
        assert sum(m.startswith("reconnect ") and "failed" in m for m in messages) == 3
        assert any("this synapse is now closed" in m for m in messages)
    finally:
        await synapse.close()


async def test_without_reconnect_a_lost_connection_closes_the_synapse(eventually) -> None:
    server = DevSynapseServer("127.0.0.1", port=0)
    await server.start()
    synapse = await connect(server.url, reconnect=False)
    try:
        await server.close()
        await eventually(lambda: synapse.closed)
        with pytest.raises(SynapseConnectError, match="lost the connection"):
            await synapse.publish("cosmonapse.ns.TASK", b"x")
    finally:
        await synapse.close()


async def test_a_refused_subscription_raises_server_error() -> None:
    limits = ServerLimits(max_subscriptions=1)
    async with DevSynapseServer("127.0.0.1", port=0, limits=limits) as server:
        synapse = await connect(server.url)
        try:
            await synapse.subscribe("cosmonapse.ns.TASK", Inbox())
            with pytest.raises(ServerError, match="subscription limit of 1"):
                await synapse.subscribe("cosmonapse.ns.FINAL", Inbox())
            assert synapse.stats["subscriptions"] == 1
            await synapse.flush()  # still connected and usable
        finally:
            await synapse.close()


async def test_a_dendrite_stops_promptly_while_its_bus_is_down(eventually) -> None:
    # Each DEREGISTER would wait for a reconnect (request_timeout each); stop() bounds
    # them all together, so a worker whose bus died still shuts down.
    from cosmonapse import Axon, Dendrite

    server = DevSynapseServer("127.0.0.1", port=0)
    await server.start()
    synapse = await connect(server.url, request_timeout=30.0, reconnect_delay=0.05)

    async def echo(input: dict, context: object) -> dict:  # type: ignore[type-arg]
        return input

    worker = Dendrite(synapse=synapse, namespace="ns", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="a", neuron_fn=echo))
    worker.attach_axon(Axon(neuron_id="b", neuron_fn=echo))
    try:
        await worker.start()
        await server.close()
        await eventually(lambda: not synapse.connected)
        await asyncio.wait_for(worker.stop(), 10.0)  # hang guard: was 2 x 30 s
        assert not worker.started
    finally:
        await synapse.close()


async def test_client_accepts_any_number_of_welcomes_on_every_connect() -> None:
    """A server that writes the banner on connect, answers hello with two more welcomes,
    and slips welcomes between other replies, on the first connection and after a
    reconnect: the client connects on the first one and takes none of them for a reply."""
    sessions: list[list[str]] = []
    drop_first = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ops: list[str] = []
        sessions.append(ops)
        writer.write(b'{"op":"welcome"}\n')  # the banner, before the client says anything
        subs: dict[str, str] = {}
        try:
            while line := await asyncio.wait_for(reader.readline(), 30):
                request = orjson.loads(line)
                ops.append(request["op"])
                if request["op"] == "hello":
                    writer.write(b'{"op":"welcome"}\n{"op":"welcome"}\n')
                elif request["op"] == "sub":
                    subs[request["sub_id"]] = request["subject"]
                elif request["op"] == "ping":
                    writer.write(b'{"op":"welcome"}\n{"op":"pong"}\n{"op":"welcome"}\n')
                elif request["op"] == "mgmt_list":
                    writer.write(b'{"op":"welcome"}\n{"op":"mgmt_ns_list","namespaces":["ns"]}\n')
                elif request["op"] == "pub":
                    for sub_id in subs:
                        msg = {"op": "msg", "sub_id": sub_id, "subject": request["subject"]}
                        msg["frame"] = request["frame"]
                        writer.write(b'{"op":"welcome"}\n' + orjson.dumps(msg) + b"\n")
                    if len(sessions) == 1 and request["frame"] == "drop":
                        drop_first.set()
                        break
                await writer.drain()
        finally:
            writer.close()

    async with await asyncio.start_server(peer, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        synapse = await connect(f"cosmo://127.0.0.1:{port}", reconnect_delay=0.01)
        try:
            inbox = Inbox()
            await synapse.subscribe("cosmonapse.ns.>", inbox)
            await synapse.flush()
            await synapse.publish("cosmonapse.ns.TASK", b"one")
            await inbox.wait_for(1)
            await synapse.publish("cosmonapse.ns.TASK", b"drop")  # the server hangs up
            await asyncio.wait_for(drop_first.wait(), 10)
            await inbox.wait_for(2)
            await asyncio.wait_for(_until(lambda: synapse.stats["reconnects"] == 1), 10)
            await synapse.flush()  # a welcome is no pong
            assert await synapse.list_namespaces() == ["ns"]
            await synapse.publish("cosmonapse.ns.TASK", b"two")
            await inbox.wait_for(3)
            assert [data for _, data in inbox.items] == [b"one", b"drop", b"two"]
            assert synapse.stats["reconnects"] == 1
            assert synapse.stats["skipped_lines"] == 0
            assert synapse.stats["server_errors"] == 0
        finally:
            await synapse.close()
    assert len(sessions) == 2
    assert all(ops[0] == "hello" for ops in sessions)  # every connect says hello too
    assert sessions[1][1] == "sub"  # and replays the subscription
