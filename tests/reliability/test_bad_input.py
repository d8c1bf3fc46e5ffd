"""Bad input, end to end: every kind of garbage gets a clear error and nobody else notices.

The dev synapse server (real TCP, a raw client writing the bad lines by hand) answers each
bad line with one ``err`` naming the rule it broke, keeps that connection (unless the line
was over the size limit, which ends that connection only), and keeps delivering to a
well-behaved client connected at the same time, during and after. The SDK raises
:class:`~cosmonapse.EnvelopeError` naming the field for a bad Signal and
:class:`~cosmonapse.SubjectError` for a bad subject or namespace, and a Dendrite fed garbage
frames on its subjects (memory, dev, NATS) keeps its read loop and still answers a real TASK.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Directed,
    EnvelopeError,
    InMemoryEngram,
    MemorySynapse,
    NeuronContext,
    Signal,
    SignalType,
    SubjectError,
    UnsupportedVersionError,
    connect_synapse,
)
from cosmonapse.subjects import routed_task_subject, signal_subject
from cosmonapse.synapses.dev import connect
from cosmonapse_cli.server import DevSynapseServer, ServerLimits

from tests.transports import TRANSPORTS, Transport

HANG_GUARD_S = 10.0
"""Deadline for every wait: a hang guard, never a timing assertion."""

NS = "ns"
SUBJECT = "cosmonapse.ns.TASK"


# -- a raw NDJSON client -----------------------------------------------------------------


class Raw:
    """A bare TCP client of the dev synapse: it writes bytes and reads lines, nothing more."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: DevSynapseServer) -> Raw:
        reader, writer = await asyncio.open_connection(server.host, server.port, limit=1 << 22)
        # the banner a server without a token writes on connect (docs/protocol.md, section 4)
        assert await asyncio.wait_for(reader.readline(), 10) == b'{"op":"welcome"}\n'
        return cls(reader, writer)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, line: dict[str, Any]) -> None:
        await self.write(orjson.dumps(line) + b"\n")

    async def recv(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), HANG_GUARD_S)
        assert line.endswith(b"\n"), f"the connection ended: {line[:200]!r}"
        value = orjson.loads(line)
        assert isinstance(value, dict)
        return value

    async def ping(self) -> None:
        """Ping and read up to the pong, which proves the connection is still served."""
        await self.send({"op": "ping"})
        while (await self.recv())["op"] != "pong":
            pass

    async def at_eof(self) -> bool:
        """Read and drop what is left; True once the server has closed the connection."""

        async def drain() -> None:
            while await self.reader.read(65_536):
                pass

        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(drain(), HANG_GUARD_S)
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


class Bystander:
    """A well-behaved client: subscribed to its namespace, publishing markers to itself."""

    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self.count = 0

    @classmethod
    async def open(cls, server: DevSynapseServer) -> Bystander:
        raw = await Raw.open(server)
        await raw.send({"op": "sub", "sub_id": "watch", "subject": "cosmonapse.ns.>"})
        await raw.ping()
        return cls(raw)

    async def publish(self) -> str:
        self.count += 1
        marker = f"marker-{self.count}"
        await self.raw.send({"op": "pub", "subject": SUBJECT, "frame": marker})
        return marker

    async def received(self, markers: list[str]) -> None:
        """Read until every marker arrived, in order (other messages are skipped)."""
        seen: list[str] = []
        while len(seen) < len(markers):
            reply = await self.raw.recv()
            assert reply["op"] != "err", reply
            if reply["op"] == "msg" and str(reply["frame"]).startswith("marker-"):
                seen.append(reply["frame"])
        assert seen == markers


@pytest.fixture
async def server() -> AsyncIterator[DevSynapseServer]:
    async with DevSynapseServer("127.0.0.1", port=0) as srv:
        yield srv


# -- the dev synapse server ----------------------------------------------------------------


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


def _pub(subject: str) -> bytes:
    return _line({"op": "pub", "subject": subject, "frame": "x"})


def _deep_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (id, line without its newline, what the err message must say)
BAD_LINES: list[tuple[str, bytes, str]] = [
    # malformed and non-object JSON
    ("not-json", b"{not json", "malformed JSON"),
    ("truncated", b'{"op":"ping"', "malformed JSON"),
    ("trailing-garbage", b'{"op":"ping"}}', "malformed JSON"),
    ("nul-bytes", b"\x00\x00\x00", "malformed JSON"),
    ("array", b'[{"op":"ping"}]', "must be a JSON object, got an array"),
    ("string", b'"ping"', "must be a JSON object, got a string"),
    ("number", b"42", "must be a JSON object, got a number"),
    ("null", b"null", "must be a JSON object, got null"),
    ("boolean", b"true", "must be a JSON object, got a boolean"),
    # invalid UTF-8
    ("utf8-bare", b"\xff\xfe\xfd", "not valid UTF-8 (byte 0xff at offset 0)"),
    ("utf8-in-frame", b'{"op":"pub","subject":"a.b","frame":"\xc3\x28"}', "not valid UTF-8"),
    ("utf8-surrogate", b'{"op":"ping","x":"\xed\xa0\x80"}', "not valid UTF-8"),
    # unknown ops
    ("unknown-op", _line({"op": "explode"}), "unknown op 'explode' (known ops: hello, ping"),
    ("future-op", _line({"op": "pub2", "subject": "a.b"}), "unknown op 'pub2'"),
    ("op-case", _line({"op": "PING"}), "unknown op 'PING'"),
    ("op-empty", _line({"op": ""}), "unknown op ''"),
    ("op-number", _line({"op": 5}), "field 'op' must be a string, got a number"),
    ("op-object", _line({"op": {"name": "ping"}}), "field 'op' must be a string, got an object"),
    ("op-missing", _line({"subject": "a.b"}), "missing field 'op'"),
    ("op-null", _line({"op": None}), "missing field 'op'"),
    # missing, empty and wrong-typed fields
    ("pub-no-subject", _line({"op": "pub", "frame": "x"}), "pub: missing field 'subject'"),
    ("pub-no-frame", _line({"op": "pub", "subject": "a.b"}), "pub: missing field 'frame'"),
    ("pub-frame-number", _line({"op": "pub", "subject": "a.b", "frame": 5}), "got a number"),
    ("pub-frame-list", _line({"op": "pub", "subject": "a.b", "frame": []}), "got an array"),
    ("pub-subject-number", _line({"op": "pub", "subject": 5, "frame": "x"}), "'subject' must be"),
    ("sub-no-id", _line({"op": "sub", "subject": "a.b"}), "sub: missing field 'sub_id'"),
    ("sub-empty-id", _line({"op": "sub", "sub_id": "", "subject": "a.b"}), "must not be empty"),
    ("sub-no-subject", _line({"op": "sub", "sub_id": "s"}), "sub: missing field 'subject'"),
    (
        "sub-group-number",
        _line({"op": "sub", "sub_id": "s", "subject": "a.b", "queue_group": 7}),
        "'queue_group' must be a string or null, got a number",
    ),
    ("unsub-no-id", _line({"op": "unsub"}), "unsub: missing field 'sub_id'"),
    ("ns-no-namespace", _line({"op": "ns_register"}), "ns_register: missing field 'namespace'"),
    (
        "ns-transport-list",
        _line({"op": "ns_register", "namespace": "ns", "transport": []}),
        "'transport' must be a string, got an array",
    ),
    ("info-no-namespace", _line({"op": "mgmt_info"}), "mgmt_info: missing field 'namespace'"),
    ("stop-no-namespace", _line({"op": "mgmt_stop"}), "mgmt_stop: missing field 'namespace'"),
    # pathological nesting
    ("nested-line", b'{"op":"ping","x":' + _deep_list(100_000) + b"}", "depth limit exceeded"),
    ("nested-open", b'{"op":"ping","x":' + b"[" * 100_000, "malformed JSON"),
    (
        "nested-frame-object",
        b'{"op":"pub","subject":"a.b","frame":{"x":' + _deep_list(300) + b"}}",
        "pub: field 'frame' cannot be forwarded as text",
    ),
    # subjects with whitespace or control characters, misplaced wildcards
    ("subject-space", _pub("cosmonapse.ns.TA SK"), "whitespace or a control character"),
    ("subject-tab", _pub("cosmonapse.ns.\tTASK"), "whitespace or a control character"),
    ("subject-newline", _pub("cosmonapse.ns.TASK\n"), "whitespace or a control character"),
    ("subject-nul", _pub("cosmonapse.ns\x00.TASK"), "whitespace or a control character"),
    ("subject-del", _pub("cosmonapse.ns.TASK\x7f"), "whitespace or a control character"),
    ("subject-u2028", _pub("cosmonapse.ns.\u2028"), "whitespace or a control character"),
    ("subject-nbsp", _pub("cosmonapse.ns.\u00a0"), "whitespace or a control character"),
    ("subject-empty-token", _pub("cosmonapse..TASK"), "has an empty token"),
    ("subject-trailing-dot", _pub("cosmonapse.ns."), "has an empty token"),
    ("subject-empty", _pub(""), "'subject' must not be empty"),
    ("pub-wildcard", _pub("cosmonapse.ns.*"), "may not contain wildcards"),
    ("pub-tail-wildcard", _pub("cosmonapse.>"), "may not contain wildcards"),
    (
        "sub-space",
        _line({"op": "sub", "sub_id": "s", "subject": "cosmonapse. ns.>"}),
        "sub: invalid subject",
    ),
    (
        "sub-wildcard-middle",
        _line({"op": "sub", "sub_id": "s", "subject": "cosmonapse.>.TASK"}),
        "'>' must be the last token",
    ),
    (
        "sub-partial-wildcard",
        _line({"op": "sub", "sub_id": "s", "subject": "cosmonapse.n*.TASK"}),
        "wildcards must be whole tokens",
    ),
    (
        "sub-group-control",
        _line({"op": "sub", "sub_id": "s", "subject": "a.b", "queue_group": "g\x01"}),
        "sub: invalid queue_group",
    ),
    # namespaces with '.', '*', '>', whitespace or control characters
    ("ns-dot", _line({"op": "ns_register", "namespace": "a.b"}), "must not contain '.'"),
    ("ns-star", _line({"op": "ns_register", "namespace": "a*"}), "must not contain '*'"),
    ("ns-gt", _line({"op": "ns_register", "namespace": ">"}), "must not contain '>'"),
    ("ns-space", _line({"op": "mgmt_info", "namespace": "a b"}), "mgmt_info: invalid namespace"),
    ("ns-control", _line({"op": "mgmt_stop", "namespace": "a\x1b"}), "a control character"),
]


@pytest.mark.parametrize(
    ("line", "reason"), [c[1:] for c in BAD_LINES], ids=[c[0] for c in BAD_LINES]
)
async def test_each_bad_line_gets_an_err_and_the_others_keep_receiving(
    server: DevSynapseServer, line: bytes, reason: str
) -> None:
    good = await Bystander.open(server)
    bad = await Raw.open(server)
    try:
        before = await good.publish()
        await bad.write(line + b"\n")
        during = await good.publish()  # sent before the bad client has read its err
        reply = await bad.recv()
        assert reply["op"] == "err", reply
        assert reason in reply["message"], reply["message"]
        after = await good.publish()
        await good.received([before, during, after])
        await bad.ping()  # the bad client's connection is kept
        assert server.stats["protocol_errors"] == 1
        assert server.stats["connections"] == 2
    finally:
        await bad.close()
        await good.raw.close()


async def test_a_burst_of_every_bad_line_gets_one_err_each_in_order(
    server: DevSynapseServer,
) -> None:
    good = await Bystander.open(server)
    bad = await Raw.open(server)
    try:
        markers = []
        for _, line, _ in BAD_LINES:
            bad.writer.write(line + b"\n")
            markers.append(await good.publish())
        await bad.writer.drain()
        for name, _, reason in BAD_LINES:
            reply = await bad.recv()
            assert reply["op"] == "err" and reason in reply["message"], (name, reply)
        await bad.ping()
        await good.received(markers)
        assert server.stats["protocol_errors"] == len(BAD_LINES)
    finally:
        await bad.close()
        await good.raw.close()


async def test_an_oversized_line_ends_only_that_connection_while_others_keep_receiving() -> None:
    limits = ServerLimits(max_line_bytes=4096)
    async with DevSynapseServer("127.0.0.1", port=0, limits=limits) as srv:
        good = await Bystander.open(srv)
        bad = await Raw.open(srv)
        try:
            first = await good.publish()
            # A line still streaming in when the server gives up on it.
            await bad.write(b'{"op":"pub","subject":"cosmonapse.ns.TASK","frame":"' + b"x" * 3000)
            during = await good.publish()
            await bad.write(b"y" * 3000)
            reply = await bad.recv()
            assert reply == {
                "op": "err",
                "message": "line too long: over the limit of 4096 bytes; closing this connection",
            }
            assert await bad.at_eof()
            after = await good.publish()
            await good.received([first, during, after])
            assert srv.stats["oversized_lines"] == 1
        finally:
            await bad.close()
            await good.raw.close()


async def test_the_server_forwards_frames_it_cannot_read_and_the_sdk_refuses_them(
    server: DevSynapseServer,
) -> None:
    """Frames are opaque to the broker: an unknown or future Signal type and a wrong major
    version travel unchanged; the receiving SDK is the one that says what is wrong."""
    valid = Signal(type=SignalType.TASK, payload={"input": {}}).to_dict()
    frames = {
        "future-type": (orjson.dumps({**valid, "type": "TASK_STREAM"}), "type", EnvelopeError),
        "major-2": (orjson.dumps({**valid, "v": "2.0"}), "v", UnsupportedVersionError),
        "not-a-signal": (b"plain text", None, EnvelopeError),
    }
    sdk = await connect_synapse(server.url)
    try:
        got: asyncio.Queue[bytes] = asyncio.Queue(maxsize=len(frames))

        async def handler(subject: str, data: bytes) -> None:
            got.put_nowait(data)

        await sdk.subscribe(SUBJECT, handler)
        for frame, field, error in frames.values():
            await sdk.publish(SUBJECT, frame)
            data = await asyncio.wait_for(got.get(), HANG_GUARD_S)
            assert data == frame
            with pytest.raises(error) as info:
                Signal.decode(data)
            assert info.value.field == field
        assert server.stats["protocol_errors"] == 0
    finally:
        await sdk.close()


async def test_the_dev_client_survives_garbage_from_its_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server (here written by hand) that sends lines no dev synapse should send: each
    is skipped and counted, and the client's read loop keeps delivering."""
    caplog.set_level(logging.WARNING, logger="cosmonapse.synapse.dev")
    garbage = [
        b"{not json",
        b"\xff\xfe\xfd",
        b"[1, 2, 3]",
        b"null",
        _line({"op": 7}),
        _line({"op": ["msg"]}),
        _line({"op": "from-the-future", "x": 1}),
        _line({"op": "msg", "sub_id": ["s1"], "subject": "a.b", "frame": "x"}),
        _line({"op": "msg", "sub_id": {"id": "s1"}, "subject": "a.b", "frame": "x"}),
        _line({"op": "msg", "sub_id": "s1", "subject": 5, "frame": "x"}),
        _line({"op": "msg", "sub_id": "s1", "subject": "a.b", "frame": None}),
        _line({"op": "msg", "sub_id": "s1", "subject": "a.b"}),
        b'{"op":"msg","sub_id":"s1","subject":"a.b","frame":{"x":' + _deep_list(300) + b"}}",
        b'{"op":"msg","x":' + _deep_list(100_000) + b"}",
        b'{"op":"msg","sub_id":"s1","subject":"a.b","frame":"' + b"z" * 5000 + b'"}',
        _line({"op": "pong", "extra": "an unsolicited reply"}),
        _line({"op": "err"}),
    ]

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"op":"welcome"}\n')
        while line := await reader.readline():
            if orjson.loads(line)["op"] == "ping":
                writer.write(b'{"op":"pong"}\n')
            if b'"sub"' in line:
                writer.write(b"\n".join(garbage) + b"\n")
                writer.write(_line({"op": "msg", "sub_id": "s1", "subject": "a.b", "frame": "ok"}))
                writer.write(b"\n")

    listener = await asyncio.start_server(peer, "127.0.0.1", 0, limit=1 << 22)
    port = listener.sockets[0].getsockname()[1]
    client = await connect(f"cosmo://127.0.0.1:{port}", max_frame_bytes=2048, reconnect=False)
    try:
        got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=8)

        async def handler(subject: str, data: bytes) -> None:
            got.put_nowait((subject, data))

        await client.subscribe("a.b", handler)
        assert await asyncio.wait_for(got.get(), HANG_GUARD_S) == ("a.b", b"ok")
        await client.flush()  # the read loop still answers requests
        assert client.connected
        stats = client.stats
        # Each line that cannot be a msg for s1 is skipped and counted; unknown ops, the
        # unsolicited pong and the err are ignored or counted as server errors.
        assert stats["skipped_lines"] == 12, stats
        assert stats["server_errors"] == 1
        assert got.empty()
    finally:
        await client.close()
        listener.close()


# -- the SDK's codec and subjects --------------------------------------------------------

_VALID = Signal(type=SignalType.TASK, payload={"input": {"q": "hi"}}).to_dict()


def _with(**changes: Any) -> bytes:
    return orjson.dumps({**_VALID, **changes})


def _without(name: str) -> bytes:
    return orjson.dumps({k: v for k, v in _VALID.items() if k != name})


# (id, frame, exception class, the field it names, what the message says)
BAD_SIGNALS: list[tuple[str, bytes, type[EnvelopeError], str | None, str]] = [
    ("empty", b"", EnvelopeError, None, "Signal is not valid JSON"),
    ("malformed", b"{not json", EnvelopeError, None, "Signal is not valid JSON"),
    ("truncated", _with()[:-1], EnvelopeError, None, "Signal is not valid JSON"),
    ("array", b"[]", EnvelopeError, None, "a Signal must be a JSON object, got an array"),
    ("string", b'"TASK"', EnvelopeError, None, "got a string"),
    ("null", b"null", EnvelopeError, None, "got null"),
    (
        "utf8",
        _with(payload={"input": {"q": "hi"}}).replace(b'"hi"', b'"h\xffi"'),
        EnvelopeError,
        None,
        "Signal is not valid UTF-8: byte 0xff at offset",
    ),
    ("utf8-only", b"\xc0\xaf", EnvelopeError, None, "byte 0xc0 at offset 0"),
    ("nested", _deep_list(100_000), EnvelopeError, None, "depth limit exceeded"),
    (
        "nested-payload",
        b'{"payload":' + b'{"a":' * 2000 + b"1" + b"}" * 2001,
        EnvelopeError,
        None,
        "depth limit exceeded",
    ),
    *[
        (f"missing-{name}", _without(name), EnvelopeError, name, f"'{name}' is missing")
        for name in ("v", "id", "trace_id", "type", "ts", "payload")
    ],
    ("v-number", _with(v=1), EnvelopeError, "v", "field 'v' must be a string, got a number"),
    ("v-2", _with(v="2"), UnsupportedVersionError, "v", "unsupported protocol version '2'"),
    ("v-2.1", _with(v="2.1"), UnsupportedVersionError, "v", "version '2.1'"),
    ("v-0.9", _with(v="0.9"), UnsupportedVersionError, "v", "accepts '1' and '1.x'"),
    ("v-10", _with(v="10"), UnsupportedVersionError, "v", "version '10'"),
    ("v-1.", _with(v="1."), UnsupportedVersionError, "v", "version '1.'"),
    ("type-unknown", _with(type="NOPE"), EnvelopeError, "type", "unknown Signal type 'NOPE'"),
    ("type-future", _with(type="TASK_STREAM"), EnvelopeError, "type", "'TASK_STREAM'"),
    ("type-lower", _with(type="task"), EnvelopeError, "type", "unknown Signal type 'task'"),
    ("type-number", _with(type=3), EnvelopeError, "type", "must be a string, got a number"),
    ("id-prefix", _with(id="trc_" + "0" * 26), EnvelopeError, "id", "must be 'evt_'"),
    ("trace-short", _with(trace_id="trc_1"), EnvelopeError, "trace_id", "must be 'trc_'"),
    ("parent-number", _with(parent_id=5), EnvelopeError, "parent_id", "string or null"),
    ("directed-string", _with(directed="x"), EnvelopeError, "directed", "object or null"),
    (
        "directed-id",
        _with(directed={"id": 5, "type": None, "capabilities": []}),
        EnvelopeError,
        "directed.id",
        "'directed.id' must be a string or null",
    ),
    (
        "directed-caps",
        _with(directed={"id": None, "type": None, "capabilities": "a,b"}),
        EnvelopeError,
        "directed.capabilities",
        "must be a list of strings",
    ),
    ("ts-space", _with(ts="2025-01-01 00:00:00Z"), EnvelopeError, "ts", "RFC 3339"),
    ("ts-zone", _with(ts="2025-01-01T00:00:00+02:00"), EnvelopeError, "ts", "ending in 'Z'"),
    ("payload-list", _with(payload=[]), EnvelopeError, "payload", "must be an object"),
    ("meta-string", _with(meta="x"), EnvelopeError, "meta", "field 'meta' must be an object"),
    (
        "task-input",
        _with(payload={"input": "not an object"}),
        EnvelopeError,
        "payload.input",
        "a TASK needs an object in 'payload.input'",
    ),
]


@pytest.mark.parametrize(
    ("frame", "error", "field", "says"),
    [c[1:] for c in BAD_SIGNALS],
    ids=[c[0] for c in BAD_SIGNALS],
)
def test_signal_decode_names_what_is_wrong(
    frame: bytes, error: type[EnvelopeError], field: str | None, says: str
) -> None:
    with pytest.raises(EnvelopeError) as info:
        Signal.decode(frame)
    assert type(info.value) is error
    assert info.value.field == field
    assert says in str(info.value)


BAD_NAMESPACES = [
    ("", "namespace must be a non-empty string"),
    ("a.b", "must not contain '.'"),
    ("a*", "must not contain '*'"),
    ("*", "must not contain '*'"),
    ("a>", "must not contain '>'"),
    ("a b", "contains whitespace or a control character (' ')"),
    ("a\tb", "('\\t')"),
    ("a\nb", "('\\n')"),
    ("a\x00", "('\\x00')"),
    ("a\x7f", "('\\x7f')"),
    ("a\u2028", "whitespace or a control character"),
]


@pytest.mark.parametrize(("namespace", "says"), BAD_NAMESPACES)
async def test_a_bad_namespace_is_refused_by_the_dendrite(namespace: str, says: str) -> None:
    async with MemorySynapse() as synapse:
        with pytest.raises(SubjectError) as info:
            Dendrite(synapse=synapse, namespace=namespace)
        assert says in str(info.value)


BAD_SUBJECTS = [
    ("", "subject must be a non-empty string"),
    ("cosmonapse.ns.TA SK", "whitespace or a control character"),
    ("cosmonapse.ns.\rTASK", "whitespace or a control character"),
    ("cosmonapse.ns.TASK\x1f", "whitespace or a control character"),
    ("cosmonapse..TASK", "empty token"),
    ("cosmonapse.ns.*", "may not contain wildcards"),
    ("cosmonapse.ns.T*", "wildcards must be whole tokens"),
]


@pytest.mark.parametrize(("subject", "says"), BAD_SUBJECTS)
async def test_a_bad_subject_is_refused_before_anything_is_sent(subject: str, says: str) -> None:
    async with MemorySynapse() as synapse:
        heard: list[bytes] = []

        async def handler(s: str, data: bytes) -> None:
            heard.append(data)

        await synapse.subscribe(">", handler)
        with pytest.raises(SubjectError) as info:
            await synapse.publish(subject, b"{}")
        assert says in str(info.value)
        assert synapse.stats["published"] == 0


# -- a Dendrite fed garbage, on every transport --------------------------------------------


async def echo(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
    return {"echo": input}


def _garbage() -> list[bytes]:
    """Frames a Dendrite must drop (or handle) without losing its read loop."""
    task = Signal(type=SignalType.TASK, payload={"input": {}}, directed=Directed(id="echo"))
    valid = task.to_dict()
    hostile = [  # valid envelopes whose payloads are nonsense
        Signal(type=SignalType.STOP, payload={"rollback": "yes"}, meta={"attempt": "x"}),
        Signal(type=SignalType.IMPRINT, payload={"op": 5, "entry": []}, directed=Directed("mem")),
        Signal(type=SignalType.IMPRINT, payload={"op": "merge"}, directed=Directed("mem")),
        Signal(
            type=SignalType.RECALL, payload={"query": [], "filters": 3}, directed=Directed("mem")
        ),
        Signal(type=SignalType.DISCOVER, payload={"capabilities": "everything"}),
        Signal(type=SignalType.REGISTER, payload={"role": 5, "capabilities": {}}),
        Signal(type=SignalType.HEARTBEAT, payload={}, directed=Directed(id="ghost")),
        Signal(type=SignalType.AGENT_OUTPUT, payload={"output": {}}, meta={"node": 5}),
        Signal(type=SignalType.TASK, payload={"input": {}, "finalize": "no"}),
        Signal(
            type=SignalType.TASK,
            payload={"input": {}},
            directed=Directed(capabilities=["nobody-has-this"]),
        ),
    ]
    return [
        b"",
        b"not json at all",
        b"\xff\xfe\x00 binary",
        b"[1, 2, 3]",
        b"null",
        b"{}",
        b'{"v": "1"}',
        orjson.dumps({**valid, "v": "2"}),
        orjson.dumps({**valid, "type": "TASK_STREAM"}),
        orjson.dumps({**valid, "payload": {"input": "not an object"}}),
        orjson.dumps({**valid, "directed": "echo"}),
        orjson.dumps({**valid, "id": "evt_short"}),
        _deep_list(50_000),
        b"{" * 50_000,
        b"x" * 200_000,
        *(s.encode() for s in hostile),
    ]


@pytest.fixture(params=TRANSPORTS)
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    module = importlib.import_module(f"tests.transports.{request.param}")
    opened: Transport = await module.open_transport()
    try:
        yield opened
    finally:
        await asyncio.wait_for(opened.aclose(), HANG_GUARD_S)


async def test_a_dendrite_fed_garbage_keeps_serving(transport: Transport) -> None:
    worker = Dendrite(
        synapse=await transport.connect(),
        namespace=NS,
        dendrite_id="worker",
        role="worker",
        heartbeat_s=0,
    )
    worker.attach_axon(Axon("echo", echo, ["echoing"]))
    worker.attach_engram(InMemoryEngram("mem"))
    boss = Dendrite(synapse=await transport.connect(), namespace=NS, heartbeat_s=0)
    raw = await transport.connect()
    subjects = [signal_subject(NS, t.value) for t in SignalType] + [routed_task_subject(NS)]
    async with worker, boss:
        sent = refused = 0
        for frame in _garbage():
            for subject in subjects:
                try:
                    await raw.publish(subject, frame)
                except EnvelopeError as exc:  # the dev wire carries UTF-8 text only
                    assert "UTF-8" in str(exc)
                    refused += 1
                else:
                    sent += 1
        assert sent > 0
        # Everything still works, on every path, after the garbage (FIFO per subscription).
        one = await boss.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=HANG_GUARD_S)
        two = await boss.dispatch_and_wait(
            capabilities=["echoing"], input={"n": 2}, timeout_s=HANG_GUARD_S
        )
        assert one.type is SignalType.AGENT_OUTPUT and one.payload["output"] == {"echo": {"n": 1}}
        assert two.type is SignalType.AGENT_OUTPUT and two.payload["output"] == {"echo": {"n": 2}}
        assert worker.stats["bad_frames"] > 0 and boss.stats["bad_frames"] > 0
        assert worker.stats["handler_errors"] == 0 and boss.stats["handler_errors"] == 0
