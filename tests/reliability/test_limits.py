"""One test per limit of docs/limits.md that had none elsewhere.

Each test drives the bound with a small value where it can be configured, checks what a
user sees when it is hit (the error or the counter the doc names), and that nothing past
the bound is held. Limits with a test elsewhere are listed in docs/limits.md with the
name of that test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    EnvelopeError,
    InMemoryEngram,
    MemorySynapse,
    NeuronContext,
    RetryStrategy,
    Signal,
    SignalType,
    SynapseClosedError,
    SynapseConnectError,
    SynapseError,
    connect_synapse,
    new_trace_id,
)
from cosmonapse._traces import TraceBook
from cosmonapse.builders import error_signal
from cosmonapse.subjects import signal_subject
from cosmonapse.synapses.dev import connect
from cosmonapse_cli.server import DevSynapseServer, ServerLimits

from tests.nats_servers import NatsServer

HANG_GUARD_S = 10.0
"""Deadline for every wait: a hang guard, never a timing assertion."""


async def eventually(check: Callable[[], bool]) -> None:
    """Wait until ``check()`` holds; fail after the hang guard."""

    async def poll() -> None:
        while not check():  # noqa: ASYNC110 (counters of other objects have no event)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), HANG_GUARD_S)


class Raw:
    """A bare NDJSON client of the dev synapse."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: DevSynapseServer) -> Raw:
        reader, writer = await asyncio.open_connection(server.host, server.port, limit=1 << 22)
        # the banner a server without a token writes on connect (docs/protocol.md, section 4)
        assert await asyncio.wait_for(reader.readline(), HANG_GUARD_S) == b'{"op":"welcome"}\n'
        return cls(reader, writer)

    async def send(self, line: dict[str, Any]) -> None:
        self.writer.write(orjson.dumps(line) + b"\n")
        await self.writer.drain()

    async def recv(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), HANG_GUARD_S)
        assert line.endswith(b"\n"), f"the connection ended: {line[:200]!r}"
        value = orjson.loads(line)
        assert isinstance(value, dict)
        return value

    async def request(self, line: dict[str, Any]) -> dict[str, Any]:
        await self.send(line)
        return await self.recv()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


@contextlib.asynccontextmanager
async def peer(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A hand-written server on a free loopback port; yields its ``cosmo://`` URL."""
    tasks: set[asyncio.Task[Any]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        with contextlib.suppress(ConnectionError):
            await handle(reader, writer)

    listener = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield f"cosmo://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Welcomes the client, then reads and never answers."""
    writer.write(b'{"op":"welcome"}\n')
    while await reader.readline():
        pass


# -- the Signal codec ----------------------------------------------------------------------


def _task_nested(levels: int) -> Signal:
    """A TASK whose JSON nests ``levels`` deep in all (the envelope is level 1)."""
    value: Any = []
    for _ in range(levels - 4):  # envelope, payload, input, and the innermost list
        value = [value]
    return Signal(type=SignalType.TASK, payload={"input": {"x": value}})


def test_encode_writes_at_most_254_levels_of_nesting() -> None:
    deepest = _task_nested(254)
    assert Signal.decode(deepest.encode()) == deepest
    with pytest.raises(EnvelopeError) as info:
        _task_nested(255).encode()
    assert str(info.value) == "Signal cannot be encoded as JSON: Recursion limit reached"


def test_decode_reads_at_most_1024_levels_of_nesting() -> None:
    envelope = Signal(type=SignalType.TASK, payload={"input": {}}).encode()

    def nested(levels: int) -> bytes:
        inner = levels - 3
        return envelope.replace(
            b'"input":{}', b'"input":{"x":' + b"[" * inner + b"]" * inner + b"}"
        )

    # Read, though deeper than encode writes: a Neuron gets it, a reply echoing it fails.
    assert Signal.decode(nested(1024)).payload["input"]["x"]
    with pytest.raises(EnvelopeError) as info:
        Signal.decode(nested(1025))
    assert info.value.field is None
    assert str(info.value).startswith("Signal is not valid JSON: depth limit exceeded")


def test_integers_are_64_bit() -> None:
    for fits in (2**64 - 1, -(2**63)):
        signal = Signal(type=SignalType.TASK, payload={"input": {"n": fits}})
        assert Signal.decode(signal.encode()).payload["input"]["n"] == fits
    for too_big in (2**64, -(2**63) - 1):
        with pytest.raises(EnvelopeError, match="Integer exceeds 64-bit range"):
            Signal(type=SignalType.TASK, payload={"input": {"n": too_big}}).encode()
    # A peer that writes a wider integer is read as the nearest float, not refused.
    valid = Signal(type=SignalType.TASK, payload={"input": {}}).encode()
    wide = Signal.decode(valid.replace(b'"input":{}', b'"input":{"n":18446744073709551616}'))
    assert wide.payload["input"]["n"] == float(2**64)


# -- the dev synapse server ----------------------------------------------------------------


async def _non_reader(server: DevSynapseServer) -> tuple[socket.socket, asyncio.StreamWriter]:
    """A subscriber with a small receive window that stops reading after its pong."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (server.host, server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(b'{"op":"sub","sub_id":"slow","subject":"cosmonapse.ns.>"}\n{"op":"ping"}\n')
    assert await asyncio.wait_for(reader.readline(), HANG_GUARD_S) == b'{"op":"welcome"}\n'
    assert await asyncio.wait_for(reader.readline(), HANG_GUARD_S) == b'{"op":"pong"}\n'
    return sock, writer


async def test_namespaces_past_max_namespaces_are_routed_but_not_counted() -> None:
    async with DevSynapseServer("127.0.0.1", port=0, limits=ServerLimits(max_namespaces=2)) as srv:
        client = await Raw.open(srv)
        try:
            for ns in ("a", "b", "c"):
                reply = await client.request({"op": "ns_register", "namespace": ns})
                assert reply == {"op": "ns_registered", "namespace": ns}
            listed = await client.request({"op": "mgmt_list"})
            assert listed == {"op": "mgmt_ns_list", "namespaces": ["a", "b"]}
            await client.send({"op": "sub", "sub_id": "s", "subject": "cosmonapse.c.>"})
            await client.send({"op": "pub", "subject": "cosmonapse.c.TASK", "frame": "still"})
            assert (await client.recv())["frame"] == "still"
            info = await client.request({"op": "mgmt_info", "namespace": "c"})
            assert (info["registered"], info["published"], info["subscriptions"]) == (False, 0, 1)
        finally:
            await client.close()


async def test_signal_types_are_counted_per_namespace_up_to_64() -> None:
    async with DevSynapseServer("127.0.0.1", port=0) as srv:
        client = await Raw.open(srv)
        try:
            for i in range(70):
                await client.send({"op": "pub", "subject": f"cosmonapse.ns.T{i}", "frame": "x"})
            info = await client.request({"op": "mgmt_info", "namespace": "ns"})
            assert info["published"] == 70
            assert len(info["signals"]) == 65
            assert info["signals"]["other"] == 6
        finally:
            await client.close()


async def test_a_dropped_slow_consumer_is_released_after_its_grace_period() -> None:
    limits = ServerLimits(max_outbound_bytes=64 * 1024, slow_consumer_grace_s=0.2)
    async with DevSynapseServer("127.0.0.1", port=0, limits=limits) as srv:
        _, writer = await _non_reader(srv)
        publisher = await Raw.open(srv)
        try:
            frame = "z" * 16_384
            for _ in range(1024):  # 16 MiB at most: a hang guard, the bound is 64 KiB
                await publisher.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": frame})
                if srv.stats["slow_consumers"]:
                    break
            assert srv.stats["slow_consumers"] == 1
            # It never read its err, yet its connection and buffer are gone.
            await eventually(lambda: srv.stats["connections"] == 1)
            assert (await publisher.request({"op": "ping"})) == {"op": "pong"}
        finally:
            await publisher.close()
            writer.close()


async def test_server_close_gives_clients_that_do_not_read_2_s_then_aborts_them() -> None:
    srv = DevSynapseServer("127.0.0.1", port=0)
    await srv.start()
    _, stuck = await _non_reader(srv)
    publisher = await Raw.open(srv)
    try:
        for _ in range(384):  # 6 MiB queued for the stuck client, under its 8 MiB bound
            await publisher.send(
                {"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": "z" * 16_384}
            )
        assert (await publisher.request({"op": "ping"})) == {"op": "pong"}
        assert srv.stats["slow_consumers"] == 0
        await asyncio.wait_for(srv.close(), HANG_GUARD_S)  # does not wait for the reader
        assert srv.stats["connections"] == 0
    finally:
        await publisher.close()
        stuck.close()


@contextlib.asynccontextmanager
async def _cosmo_synapse(*options: str, token: str | None = None) -> AsyncIterator[tuple[str, int]]:
    """``cosmo synapse start memory --port 0 --quiet OPTIONS`` in a child process; yields
    the host and port its banner names."""
    cosmo = Path(sys.executable).with_name("cosmo")
    env = {k: v for k, v in os.environ.items() if k not in ("SYNAPSE_URL", "COSMO_TOKEN")}
    if token is not None:
        env["COSMO_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        str(cosmo),
        *("synapse", "start", "memory", "--port", "0", "--quiet", *options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**env, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"},
    )
    try:
        assert proc.stdout is not None
        port = None
        while port is None:  # the banner names the URL
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "cosmo ended before printing its URL"
            found = re.search(r"cosmo://(?::\S+@)?127\.0\.0\.1:(\d+)", line.decode())
            port = int(found.group(1)) if found else None
        yield "127.0.0.1", port
    finally:
        proc.kill()
        await asyncio.wait_for(proc.wait(), HANG_GUARD_S)


async def _line(reader: asyncio.StreamReader) -> Any:
    return orjson.loads(await asyncio.wait_for(reader.readline(), HANG_GUARD_S))


async def test_cosmo_synapse_start_passes_its_line_limit_to_the_server() -> None:
    async with _cosmo_synapse("--max-line-bytes", "2048") as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        assert await _line(reader) == {"op": "welcome"}  # the banner (no token)
        writer.write(b'{"op":"pub","subject":"a.b","frame":"' + b"x" * 3000 + b'"}\n')
        reply = await _line(reader)
        assert reply["message"] == (
            "line too long: over the limit of 2048 bytes; closing this connection"
        )
        writer.close()


async def test_cosmo_synapse_start_passes_its_other_limits_to_the_server() -> None:
    options = ("--max-connections", "2", "--max-subscriptions", "1", "--hello-timeout", "2.5")
    async with _cosmo_synapse(*options, token="s3cret") as (host, port):
        # one subscription per client
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b'{"op":"hello","token":"s3cret"}\n')
        assert await _line(reader) == {"op": "welcome"}
        writer.write(b'{"op":"sub","sub_id":"s1","subject":"a.>","queue_group":null}\n')
        writer.write(b'{"op":"sub","sub_id":"s2","subject":"b.>","queue_group":null}\n')
        assert (await _line(reader))["message"] == (
            "sub: subscription limit of 1 per connection reached; 's2' refused"
        )
        # two clients at once: a third is refused while the second has not said hello
        quiet_reader, quiet_writer = await asyncio.open_connection(host, port)
        third_reader, third_writer = await asyncio.open_connection(host, port)
        assert (await _line(third_reader))["message"] == (
            "connection limit of 2 reached; closing this connection"
        )
        # and the quiet one is refused once its 2.5 s to authenticate are up
        assert (await _line(quiet_reader))["message"] == (
            'authentication required: no {"op":"hello","token":"..."} within 2.5 s; '
            "closing the connection"
        )
        for w in (writer, quiet_writer, third_writer):
            w.close()


# -- the dev synapse client ----------------------------------------------------------------


async def test_dev_client_drops_past_max_pending_per_subscription() -> None:
    async with DevSynapseServer("127.0.0.1", port=0) as srv:
        slow = await connect(srv.url, max_pending=2)
        pub = await connect_synapse(srv.url)
        release = asyncio.Event()
        handled: list[bytes] = []

        async def stuck(subject: str, data: bytes) -> None:
            await release.wait()
            handled.append(data)

        try:
            await slow.subscribe("cosmonapse.ns.TASK", stuck)
            for i in range(10):
                await pub.publish("cosmonapse.ns.TASK", str(i).encode())
            # One frame in the handler, two buffered: the rest is dropped and counted.
            await eventually(lambda: slow.stats["dropped"] >= 7)
            release.set()
            await eventually(lambda: slow.stats["delivered"] + slow.stats["dropped"] == 10)
            assert slow.stats["dropped"] in (7, 8)
            assert handled == sorted(handled, key=int) and handled[0] == b"0"
        finally:
            release.set()
            await slow.close()
            await pub.close()


async def test_dev_client_requests_wait_at_most_request_timeout() -> None:
    async with peer(mute) as url:
        client = await connect(url, request_timeout=0.2, reconnect=False)
        try:
            with pytest.raises(SynapseConnectError) as info:
                await client.flush()
            assert str(info.value) == f"{url} did not answer with 'pong' within 0.2 s"
        finally:
            await client.close()


async def test_dev_client_bounds_requests_awaiting_a_reply() -> None:
    async with peer(mute) as url:
        client = await connect(url, request_timeout=60, reconnect=False)
        waiting = [asyncio.create_task(client.flush()) for _ in range(1024)]
        try:
            for _ in range(3):  # each task runs up to its wait
                await asyncio.sleep(0)
            with pytest.raises(SynapseError) as info:
                await client.flush()
            assert str(info.value) == f"{url}: 1024 requests already await 'pong'"
        finally:
            await client.close()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, SynapseClosedError) for r in results)


async def test_dev_client_handshake_reads_at_most_64_lines() -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"op":"notice","text":"hello there"}\n' * 100)
        while await reader.readline():
            pass

    async with peer(chatty) as url:
        with pytest.raises(SynapseConnectError) as info:
            await connect(url, reconnect=False)
        assert str(info.value) == f"{url} never answered hello with welcome"


# -- the NATS synapse ----------------------------------------------------------------------


async def test_nats_publishing_while_disconnected_is_bounded_by_the_outbound_buffer() -> None:
    with NatsServer() as server:
        synapse = await connect_synapse(
            server.url, outbound_buffer_bytes=4096, reconnect_time_wait=0.2, connect_timeout=0.5
        )
        try:
            server.kill()
            await eventually(lambda: getattr(synapse, "connected_server", "") is None)
            with pytest.raises(SynapseError) as info:
                for _ in range(8):  # 8 KB: twice the buffer
                    await synapse.publish("cosmonapse.ns.TASK", b"x" * 1000)
            assert str(info.value) == (
                f"not connected to NATS ({synapse.url}) and the outbound buffer of 4096 bytes "
                "is full; the frame was not sent"
            )
        finally:
            await asyncio.wait_for(synapse.close(), HANG_GUARD_S)


async def test_nats_subscription_drops_past_max_pending_bytes() -> None:
    with NatsServer() as server:
        pub = await connect_synapse(server.url)
        sub = await connect_synapse(server.url, max_pending_bytes=4096)
        release = asyncio.Event()
        handled: list[bytes] = []

        async def stuck(subject: str, data: bytes) -> None:
            await release.wait()
            handled.append(data)

        try:
            await sub.subscribe("cosmonapse.ns.TASK", stuck)
            for i in range(40):
                await pub.publish("cosmonapse.ns.TASK", str(i).encode().ljust(1000, b" "))
            await eventually(lambda: sub.stats["dropped"] >= 1)
            release.set()
            await eventually(lambda: sub.stats["delivered"] + sub.stats["dropped"] == 40)
            assert 0 < sub.stats["dropped"] < 40
            assert len(handled) == 40 - sub.stats["dropped"]
        finally:
            release.set()
            await pub.close()
            await sub.close()


async def test_nats_a_frozen_server_is_noticed_after_max_outstanding_pings() -> None:
    with NatsServer() as server:
        synapse = await connect_synapse(
            server.url, ping_interval=0.1, max_outstanding_pings=2, connect_timeout=0.5
        )
        assert server.process is not None
        try:
            server.process.send_signal(signal.SIGSTOP)  # alive, but answers nothing
            await eventually(lambda: getattr(synapse, "connected_server", "") is None)
        finally:
            server.process.send_signal(signal.SIGCONT)
            await asyncio.wait_for(synapse.close(), HANG_GUARD_S)


# -- the Dendrite ----------------------------------------------------------------------------


async def test_max_queued_drops_deliveries_other_than_tasks() -> None:
    async with MemorySynapse() as synapse:
        boss = Dendrite(synapse=synapse, namespace="ns", heartbeat_s=0, max_queued=2)
        release = asyncio.Event()
        started: list[Signal] = []

        @boss.on_agent_output
        async def slow(signal: Signal) -> None:
            started.append(signal)
            await release.wait()

        async with boss:
            trace = new_trace_id()
            for _ in range(5):
                reply = Signal(type=SignalType.AGENT_OUTPUT, payload={"output": {}}, trace_id=trace)
                await synapse.publish(signal_subject("ns", "AGENT_OUTPUT"), reply.encode())
            await eventually(lambda: boss.stats["received"] == 5)
            assert boss.stats["overloaded"] == 3  # two run, three dropped and counted
            await eventually(lambda: len(started) == 2)
            release.set()
            await eventually(lambda: boss.stats["in_flight"] == 0)


async def test_stop_trace_waits_for_acks_at_most_timeout_s() -> None:
    synapse = MemorySynapse()
    async with synapse, Dendrite(synapse=synapse, namespace="ns", heartbeat_s=0) as boss:
        # Nobody has a stake in this trace: no ack comes, it returns at the deadline.
        acks = await asyncio.wait_for(
            boss.stop_trace(new_trace_id(), collect_acks=True, timeout_s=0.2), HANG_GUARD_S
        )
        assert acks == []


async def test_stop_waits_at_most_5_s_for_work_that_ignores_cancellation() -> None:
    synapse = MemorySynapse()
    worker = Dendrite(synapse=synapse, namespace="ns", role="worker", heartbeat_s=0)
    boss = Dendrite(synapse=synapse, namespace="ns", heartbeat_s=0)
    running, release = asyncio.Event(), asyncio.Event()

    async def stubborn(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        running.set()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # a badly written Neuron
                await release.wait()
        return {}

    worker.attach_axon(Axon("stubborn", stubborn))
    async with synapse, boss:
        await worker.start()
        await boss.dispatch_task(neuron="stubborn", input={})
        await asyncio.wait_for(running.wait(), HANG_GUARD_S)
        await asyncio.wait_for(worker.stop(), 3 * HANG_GUARD_S)  # returns although it runs on
        assert not worker.started and worker.stats["in_flight"] == 1
        published = worker.stats["published"]
        release.set()
        await eventually(lambda: worker.stats["in_flight"] == 0)
        assert worker.stats["published"] == published  # a stopped Dendrite sends no reply


def test_per_trace_records_are_bounded() -> None:
    book = TraceBook(max_traces=3)
    traces = [new_trace_id() for _ in range(5)]
    for trace in traces:
        book.stake(trace)
        book.mark_stopped(trace, None)
    assert [book.has_stake(t) for t in traces] == [False, False, True, True, True]
    assert [book.stopped(t) for t in traces] == [False, False, True, True, True]


# -- Engram, retry, neuron-hf ------------------------------------------------------------------


def test_engram_dedup_window_is_bounded() -> None:
    engram = InMemoryEngram("mem", dedup_window=2)
    first = engram.imprint(op="add", entry={"n": 0}, imprint_id="imp-0")
    assert engram.imprint(op="add", entry={"n": 0}, imprint_id="imp-0") == first  # replay
    assert len(engram) == 1
    for i in (1, 2):
        engram.imprint(op="add", entry={"n": i}, imprint_id=f"imp-{i}")
    # imp-0 fell out of the window of 2: a replay of it now writes again.
    again = engram.imprint(op="add", entry={"n": 0}, imprint_id="imp-0")
    assert again.id != first.id and len(engram) == 4


def test_retry_after_hints_are_capped_at_the_whole_budget() -> None:
    retry = RetryStrategy(max_attempts=3, timeout_s=2.0, backoff=0.5)

    def error(hint: object) -> Signal:
        return error_signal(
            trace_id=new_trace_id(),
            parent_id=None,
            code="BUSY",
            message="busy",
            recoverable=True,
            meta={"retry_after_s": hint},
        )

    assert retry.delay(1, error(1e9)) == 6.0  # max_attempts * timeout_s
    assert retry.delay(1, error(1.5)) == 1.5  # a hint longer than the backoff wins
    assert retry.delay(1, error(0.1)) == 0.5  # and a shorter one does not
    assert retry.delay(1, error("soon")) == 0.5  # a hint that is not a number is ignored


async def test_hf_error_bodies_are_read_up_to_64_kib() -> None:
    from cosmonapse import NeuronError
    from cosmonapse_neuron_hf import HuggingFaceNeuron

    done = asyncio.Event()

    async def endless_404(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
            b"content-length: 100000000\r\n\r\n"
        )
        writer.write(b'{"error": "' + b"no such model " * 6000)  # 84 KB of 100 MB
        await writer.drain()
        await done.wait()  # the rest never comes: reading it all would hang

    listener = await asyncio.start_server(endless_404, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with HuggingFaceNeuron(endpoint=f"http://127.0.0.1:{port}", timeout_s=60) as neuron:
            with pytest.raises(NeuronError) as info:
                await asyncio.wait_for(neuron({"prompt": "x"}, None), HANG_GUARD_S)
        assert info.value.code == "UPSTREAM_REJECTED"
        assert "HTTP 404" in str(info.value) and len(str(info.value)) < 500
    finally:
        done.set()
        listener.close()


def test_names_are_bounded_to_max_name_length() -> None:
    from cosmonapse import SubjectError
    from cosmonapse.subjects import (
        MAX_NAME_LENGTH,
        validate_namespace,
        validate_queue_group,
        validate_subject,
    )

    longest = "cosmonapse." + "n" * (MAX_NAME_LENGTH - len("cosmonapse."))
    assert validate_subject(longest) == longest
    for check, name in (
        (validate_subject, longest + "x"),
        (validate_namespace, "n" * (MAX_NAME_LENGTH + 1)),
        (validate_queue_group, "g" * (MAX_NAME_LENGTH + 1)),
    ):
        with pytest.raises(SubjectError, match=f"the limit is {MAX_NAME_LENGTH}"):
            check(name)


async def test_dev_synapse_refuses_long_names_and_keeps_the_connection() -> None:
    async with DevSynapseServer("127.0.0.1", port=0) as srv:
        client = await Raw.open(srv)
        try:
            reply = await client.request(
                {"op": "sub", "sub_id": "s" * 5000, "subject": "cosmonapse.ns.>"}
            )
            assert reply["op"] == "err" and "the limit is 1024" in reply["message"]
            assert len(reply["message"]) < 300  # the name is not echoed back whole
            reply = await client.request(
                {"op": "sub", "sub_id": "s1", "subject": "cosmonapse." + "t" * 5000}
            )
            assert reply["op"] == "err" and "the limit is 1024" in reply["message"]
            assert (await client.request({"op": "ping"})) == {"op": "pong"}
            assert srv.stats["subscriptions"] == 0
        finally:
            await client.close()
