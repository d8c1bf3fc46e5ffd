"""Property tests across the wire.

packages/python-sdk/tests/test_signal_properties.py already checks that a generated
Signal survives ``encode``/``decode`` and that random bytes only ever raise EnvelopeError.
This module extends it: Signals nested up to the encoder's depth limit, with any valid
timestamp and minor version, and the same Signals carried through the dev-synapse wire (a
``pub`` line parsed by the server, the ``msg`` line it writes, read back by the client)
arrive byte for byte.

Then the fuzzers, each against ONE long-lived peer: random byte streams (random newlines,
huge lines, invalid UTF-8, valid JSON of the wrong shape, real ops with random fields,
deep nesting) written to a dev synapse server never crash it: after each, a fresh client
still gets ``pong`` and a subscribed bystander still gets what is published. The same kind
of streams sent by a server to the SDK's ``cosmo://`` client never end its read loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from cosmonapse import Directed, Signal, SignalType
from cosmonapse.synapses import _ndjson
from cosmonapse.synapses.dev import DevSynapse, connect
from cosmonapse_cli.server import DevSynapseServer, ServerLimits
from cosmonapse_cli.server.protocol import Pub, msg_head, msg_tail, parse_request
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

HANG_GUARD_S = 10.0
"""Deadline for every wait: a hang guard, never a timing assertion."""

ENCODE_DEPTH = 254
"""The deepest nesting Signal.encode writes, the envelope itself counting as level 1."""

# -- generated Signals -------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8"), max_size=12)  # every code point but surrogates
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
ulids = st.text(
    alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz", min_size=26, max_size=26
)


@st.composite
def nested(draw: st.DrawFn, max_depth: int) -> Any:
    """A JSON scalar wrapped in up to ``max_depth`` containers (objects or arrays)."""
    value: Any = draw(scalars)
    for kind in draw(st.lists(st.sampled_from("ol"), max_size=max_depth)):
        value = {draw(text): value} if kind == "o" else [value]
    return value


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    date = draw(st.dates()).isoformat()
    clock = draw(st.times()).isoformat(timespec="seconds")
    digits = draw(st.integers(0, 9))
    fraction = "." + draw(st.text("0123456789", min_size=digits, max_size=digits)) if digits else ""
    zone = draw(st.sampled_from(["Z", "+00:00", "-00:00"]))
    return f"{date}T{clock}{fraction}{zone}"


@st.composite
def signals(draw: st.DrawFn) -> Signal:
    kind = draw(st.sampled_from(list(SignalType)))
    # The envelope is level 1, payload level 2: a value of the payload wrapped in 252
    # containers puts the deepest one exactly at the limit.
    payload: dict[str, Any] = draw(st.dictionaries(text, nested(ENCODE_DEPTH - 2), max_size=3))
    required = {"TASK": "input", "AGENT_OUTPUT": "output", "FINAL": "result"}.get(kind.value)
    if required is not None:
        payload[required] = draw(st.dictionaries(text, values, max_size=3))
    return Signal(
        type=kind,
        payload=payload,
        meta=draw(st.dictionaries(text, values, max_size=3)),
        directed=draw(
            st.none() | st.builds(Directed, st.none() | text, st.none() | text, st.lists(text))
        ),
        id="evt_" + draw(ulids),
        trace_id="trc_" + draw(ulids),
        parent_id=draw(st.none() | ulids.map(lambda u: "evt_" + u)),
        v=draw(st.just("1") | st.integers(0, 10**6).map(lambda n: f"1.{n}")),
        ts=draw(timestamps()),
    )


tokens = st.text(
    st.characters(codec="utf-8", exclude_characters=".*>"),
    min_size=1,
    max_size=8,
).filter(lambda t: not any(c.isspace() or c < " " or c == "\x7f" for c in t))
subjects = st.lists(tokens, min_size=1, max_size=4).map(".".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signals())
def test_deep_signals_with_any_timestamp_round_trip(signal: Signal) -> None:
    data = signal.encode()
    back = Signal.decode(data)
    assert back == signal
    assert back.encode() == data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signals(), subjects, st.text(min_size=1, max_size=8))
def test_a_signal_crosses_the_dev_wire_byte_for_byte(
    signal: Signal, subject: str, sub_id: str
) -> None:
    data = signal.encode()
    line = _ndjson.pub_line(subject, data)  # what the client sends
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    request = parse_request(line[:-1])  # what the server reads
    assert request == Pub(subject, data.decode())
    out = msg_head(sub_id) + msg_tail(request.subject, request.frame)  # what it writes
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    msg = orjson.loads(out)  # what the client reads
    assert msg == {"op": "msg", "sub_id": sub_id, "subject": subject, "frame": data.decode()}
    assert msg["frame"].encode() == data
    assert Signal.decode(msg["frame"].encode()) == signal


# -- random streams ----------------------------------------------------------------------

FUZZ_LINE_LIMIT = 4096
"""The fuzzed server's line limit: small, so that huge lines are cheap to make."""

OPS = ["hello", "ping", "pub", "sub", "unsub", "ns_register", "mgmt_list", "mgmt_info", "mgmt_stop"]
WATCH_NS = "watch"
"""The bystander's namespace; the fuzzer never names it (mgmt_stop would end its sub)."""

fuzz_subjects = (
    st.sampled_from(["cosmonapse.fuzz.TASK", "cosmonapse.fuzz.>", "a.*.b", ">", "*", "x.>.y"])
    | subjects.filter(lambda s: WATCH_NS not in s)
    | text
)
requests = st.fixed_dictionaries(
    {"op": st.sampled_from([*OPS, "msg", "err", "nope"]) | values},
    optional={
        "subject": fuzz_subjects | values,
        "frame": text | values,
        "sub_id": text | values,
        "queue_group": st.none() | text | values,
        "namespace": (text | values).filter(lambda v: v != WATCH_NS),
        "transport": text | values,
        "token": text | values,
    },
)


def _deep_frame(op: str, depth: int) -> bytes:
    """A line whose ``frame`` is an object nested ``depth`` levels (raw bytes: orjson
    would refuse to write it)."""
    head = b'{"op":"%s","sub_id":"s1","subject":"cosmonapse.fuzz.TASK","frame":' % op.encode()
    return head + b'{"a":' * depth + b"{}" + b"}" * (depth + 1)


depths = st.integers(1, 400) | st.integers(250, 300)
"""Nesting around the encoder's limit of 254 is where a re-encode fails."""

chunks = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"\n", b"\r\n", b"\n\n\n", b"\r", b" \t\n", b"\x00", b"{", b"}"]),
    st.binary(min_size=1, max_size=16).map(lambda b: b"\xff" + b),  # never UTF-8
    st.sampled_from([b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]),
    st.integers(FUZZ_LINE_LIMIT + 1, 3 * FUZZ_LINE_LIMIT).map(lambda n: b"A" * n),
    # whole lines, a newline either side so that they are not glued to the garbage around
    st.one_of(
        values.map(orjson.dumps),
        requests.map(orjson.dumps),
        depths.map(lambda d: _deep_frame("pub", d)),
        st.integers(1, 3000).map(lambda d: b"[" * d + b"]" * d),
    ).map(lambda line: b"\n" + line + b"\n"),
)
streams = st.lists(chunks, max_size=12).map(b"".join)

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
"""The fuzzers run every example against one long-lived peer, so once it is broken every
later example fails too: shrinking would only report a misleadingly small example."""


@dataclass
class ServerRig:
    """One dev synapse for every example, its bystander, and what the loop reported."""

    runner: asyncio.Runner
    server: DevSynapseServer
    watcher: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    loop_errors: list[dict[str, Any]] = field(default_factory=list)
    markers: Iterator[int] = field(default_factory=itertools.count)


async def _open(server: DevSynapseServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(server.host, server.port, limit=1 << 22), HANG_GUARD_S
    )
    # the banner a server without a token writes on connect (docs/protocol.md, section 4)
    assert await _read_json(reader) == {"op": "welcome"}
    return reader, writer


async def _read_json(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next server line as JSON (every server line is a JSON object), None at EOF."""
    try:
        line = await asyncio.wait_for(reader.readline(), HANG_GUARD_S)
    except ConnectionError:
        return None
    if not line.endswith(b"\n"):
        return None
    value = orjson.loads(line)
    assert isinstance(value, dict) and isinstance(value.get("op"), str), line[:200]
    return value


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 2.0)


@pytest.fixture(scope="module")
def server_rig() -> Iterator[ServerRig]:
    runner = asyncio.Runner()
    server = DevSynapseServer(
        "127.0.0.1", port=0, limits=ServerLimits(max_line_bytes=FUZZ_LINE_LIMIT)
    )
    rig = ServerRig(runner, server)
    runner.get_loop().set_exception_handler(lambda loop, context: rig.loop_errors.append(context))

    async def start() -> None:
        await server.start()
        reader, writer = rig.watcher = await _open(server)
        writer.write(b'{"op":"sub","sub_id":"w","subject":"cosmonapse.watch.>"}\n{"op":"ping"}\n')
        assert await _read_json(reader) == {"op": "pong"}

    try:
        runner.run(start())
        yield rig
    finally:
        if rig.watcher is not None:
            runner.run(_close(rig.watcher[1]))
        runner.run(server.close())
        runner.close()


async def _fuzz_once(rig: ServerRig, stream: bytes) -> None:
    server = rig.server
    # 1. The fuzzer writes its stream, then a ping on a line of its own.
    reader, writer = await _open(server)
    writer.write(stream + b'\n{"op":"ping"}\n')
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(writer.drain(), HANG_GUARD_S)
    # It gets its pong (after any number of replies), or the connection ends, and then
    # only after an err saying the line was too long: nothing else ends a connection.
    last_err: str | None = None
    while (reply := await _read_json(reader)) is not None and reply["op"] != "pong":
        if reply["op"] == "err":
            last_err = str(reply["message"])
    if reply is None:
        assert last_err is not None and last_err.startswith("line too long"), last_err
    await _close(writer)

    # 2. A fresh client is served.
    reader, writer = await _open(server)
    writer.write(b'{"op":"hello"}\n{"op":"ping"}\n')
    assert await _read_json(reader) == {"op": "welcome"}
    assert await _read_json(reader) == {"op": "pong"}

    # 3. The bystander, subscribed all along, gets what the fresh client publishes.
    marker = f"marker-{next(rig.markers)}"
    writer.write(orjson.dumps({"op": "pub", "subject": "cosmonapse.watch.TASK", "frame": marker}))
    writer.write(b"\n")
    assert rig.watcher is not None
    watch_reader = rig.watcher[0]
    while (msg := await _read_json(watch_reader)) is not None:
        assert msg["op"] == "msg", msg  # an err here would mean the server dropped its sub
        if msg["frame"] == marker:
            break
    assert msg is not None, "the bystander's connection ended"
    await _close(writer)

    # 4. Every connection but the bystander's goes away: nothing leaks.
    async def settled() -> None:
        while server.stats["connections"] > 1:  # noqa: ASYNC110 (a counter has no event)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(settled(), HANG_GUARD_S)


@settings(
    max_examples=80,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams)
def test_random_streams_never_crash_the_dev_synapse(server_rig: ServerRig, stream: bytes) -> None:
    server_rig.runner.run(_fuzz_once(server_rig, stream))
    assert server_rig.loop_errors == [], server_rig.loop_errors


# -- random server lines at the SDK client -----------------------------------------------


@dataclass
class ClientRig:
    """A hand-written server that says whatever the example tells it, and ONE SDK client."""

    runner: asyncio.Runner
    client: DevSynapse | None = None
    to_client: asyncio.StreamWriter | None = None
    received: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    loop_errors: list[dict[str, Any]] = field(default_factory=list)
    markers: Iterator[int] = field(default_factory=itertools.count)


@pytest.fixture(scope="module")
def client_rig() -> Iterator[ClientRig]:
    runner = asyncio.Runner()
    rig = ClientRig(runner)
    runner.get_loop().set_exception_handler(lambda loop, context: rig.loop_errors.append(context))
    listener: asyncio.Server | None = None

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rig.to_client = writer
        writer.write(b'{"op":"welcome"}\n')
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                if b'"ping"' in line:
                    writer.write(b'{"op":"pong"}\n')

    async def handler(subject: str, data: bytes) -> None:
        rig.received.put_nowait(data)

    async def start() -> None:
        nonlocal listener
        listener = await asyncio.start_server(peer, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        rig.client = await connect(
            f"cosmo://127.0.0.1:{port}",
            max_frame_bytes=2048,
            reconnect=False,
            request_timeout=HANG_GUARD_S / 2,
        )
        await rig.client.subscribe("cosmonapse.fuzz.TASK", handler)

    async def stop() -> None:
        if rig.client is not None:
            await rig.client.close()
        if listener is not None:
            listener.close()

    try:
        runner.run(start())
        yield rig
    finally:
        runner.run(stop())
        runner.close()


server_lines = st.one_of(
    chunks,
    depths.map(lambda d: b"\n" + _deep_frame("msg", d)),
    st.fixed_dictionaries(
        {"op": st.just("msg")},
        optional={
            "sub_id": st.sampled_from(["s1", "s2"]) | values,
            "subject": fuzz_subjects | values,
            "frame": text | values,
        },
    ).map(orjson.dumps),
)


async def _send_to_client_once(rig: ClientRig, stream: bytes) -> None:
    assert rig.client is not None and rig.to_client is not None
    marker = f"marker-{next(rig.markers)}"
    good = {"op": "msg", "sub_id": "s1", "subject": "cosmonapse.fuzz.TASK", "frame": marker}
    rig.to_client.write(stream + b"\n" + orjson.dumps(good) + b"\n")
    await rig.client.flush()  # requests are answered (a dead read loop fails here)
    while await asyncio.wait_for(rig.received.get(), HANG_GUARD_S) != marker.encode():
        pass  # a random msg for s1 may arrive first
    assert rig.client.connected


@settings(
    max_examples=60,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(server_lines, max_size=10).map(b"\n".join))
def test_random_server_lines_never_end_the_client_read_loop(
    client_rig: ClientRig, stream: bytes
) -> None:
    client_rig.runner.run(_send_to_client_once(client_rig, stream))
    assert client_rig.loop_errors == [], client_rig.loop_errors
    assert client_rig.client is not None and client_rig.client.stats["reconnects"] == 0
