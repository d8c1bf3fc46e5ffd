"""The dev synapse's optional token, over real TCP with hand-written clients: who gets in,
who is refused and how, the open-bind rule, and that the token never reaches a log line
or an error message."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cosmonapse_cli import ConfigError
from cosmonapse_cli.server import DevSynapseServer, ServerLimits, is_loopback

from .conftest import RawClient, RawConnect

COSMO = str(Path(sys.executable).with_name("cosmo"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TOKEN = "tok-" + secrets.token_hex(12)
HELLO = {"op": "hello", "token": TOKEN}


@pytest.fixture
async def guarded() -> AsyncIterator[DevSynapseServer]:
    async with DevSynapseServer("127.0.0.1", port=0, token=TOKEN) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_token_in_any_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with every log record captured, and none may hold the token."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert TOKEN not in record.getMessage(), record.getMessage()
    assert TOKEN not in caplog.text


async def refused(client: RawClient, line: dict[str, Any] | bytes) -> str:
    """Send ``line``; expect one ``err`` and then the end of the connection."""
    reply = await client.request(line)
    assert reply["op"] == "err", reply
    message = str(reply["message"])
    assert TOKEN not in message
    assert await client.at_eof()
    return message


async def pub_sub_works(client: RawClient) -> None:
    await client.send({"op": "sub", "sub_id": "s1", "subject": "cosmonapse.ns.TASK"})
    assert await client.request({"op": "ping"}) == {"op": "pong"}
    await client.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": "{}"})
    reply = await client.recv()
    assert (reply["op"], reply["sub_id"], reply["frame"]) == ("msg", "s1", "{}")


# -- without a token nothing changes ------------------------------------------------


@pytest.mark.parametrize("hello", [{"op": "hello"}, HELLO, {"op": "hello", "token": "other"}])
async def test_without_a_token_every_hello_is_welcomed(
    server: DevSynapseServer, raw: RawConnect, hello: dict[str, Any]
) -> None:
    assert not server.token_required
    client = await raw(server)
    assert await client.request(hello) == {"op": "welcome"}
    await pub_sub_works(client)
    assert server.stats["auth_failures"] == 0


async def test_without_a_token_hello_is_optional(server: DevSynapseServer, raw: RawConnect) -> None:
    await pub_sub_works(await raw(server))


# -- with a token -------------------------------------------------------------------


async def test_the_right_token_is_welcomed(guarded: DevSynapseServer, raw: RawConnect) -> None:
    assert guarded.token_required
    client = await raw(guarded)
    assert await client.request(HELLO) == {"op": "welcome"}
    await pub_sub_works(client)
    # A second hello on an authenticated connection is just welcomed.
    assert await client.request({"op": "hello"}) == {"op": "welcome"}
    assert guarded.stats["auth_failures"] == 0


async def test_a_token_server_sends_no_banner_before_the_hello(
    guarded: DevSynapseServer, raw: RawConnect
) -> None:
    client = await raw(guarded)
    await client.send(HELLO)
    await client.send({"op": "ping"})
    # Exactly one welcome, the answer to the hello: nothing was written before it.
    assert [await client.recv(), await client.recv()] == [{"op": "welcome"}, {"op": "pong"}]


async def test_a_wrong_token_is_refused_and_the_connection_closed(
    guarded: DevSynapseServer, raw: RawConnect
) -> None:
    client = await raw(guarded)
    message = await refused(client, {"op": "hello", "token": TOKEN + "x"})
    assert message == "authentication failed: wrong token; closing the connection"
    assert guarded.stats["auth_failures"] == 1


@pytest.mark.parametrize(
    "token", ["", TOKEN.upper(), TOKEN[:-1], "\u00e9" + TOKEN, "x" * 10_000], ids=repr
)
async def test_near_misses_are_wrong_tokens(
    guarded: DevSynapseServer, raw: RawConnect, token: str
) -> None:
    message = await refused(await raw(guarded), {"op": "hello", "token": token})
    assert message.startswith("authentication failed: wrong token")


async def test_a_hello_without_a_token_is_refused(
    guarded: DevSynapseServer, raw: RawConnect
) -> None:
    message = await refused(await raw(guarded), {"op": "hello"})
    assert message.startswith("authentication required: this dev synapse needs a token")
    assert "COSMO_TOKEN" in message and "cosmo://:TOKEN@host:port" in message


async def test_a_token_that_is_not_a_string_is_refused(
    guarded: DevSynapseServer, raw: RawConnect
) -> None:
    message = await refused(await raw(guarded), {"op": "hello", "token": 12345})
    assert message.startswith("authentication required:")
    assert "field 'token' must be a string, got a number" in message
    assert "12345" not in message  # a value sent the wrong way is not echoed


@pytest.mark.parametrize(
    "line",
    [
        {"op": "ping"},
        {"op": "sub", "sub_id": "s1", "subject": "cosmonapse.ns.>"},
        {"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": "{}"},
        {"op": "ns_register", "namespace": "ns"},
        {"op": "mgmt_list"},
        {"op": "mgmt_stop", "namespace": "ns"},
    ],
    ids=lambda line: str(line["op"]),
)
async def test_any_other_op_before_hello_is_refused(
    guarded: DevSynapseServer, raw: RawConnect, line: dict[str, Any]
) -> None:
    message = await refused(await raw(guarded), line)
    assert message == (
        'authentication required: send {"op":"hello","token":"..."} before '
        f"{line['op']!r}; closing the connection"
    )
    assert guarded.stats["auth_failures"] == 1
    assert guarded.stats["subscriptions"] == 0
    assert guarded.stats["published"] == 0
    assert guarded.namespaces() == []


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1]\n",
        b'{"op":"nope"}\n',
        b"\xff\n",
        b'{"op":"hello","token":"\\ud800"}\n',  # a lone surrogate is not valid JSON text
    ],
)
async def test_an_invalid_first_line_is_refused(
    guarded: DevSynapseServer, raw: RawConnect, line: bytes
) -> None:
    message = await refused(await raw(guarded), line)
    assert message.startswith('authentication required: the first line must be {"op":"hello"')


async def test_refused_lines_reach_nobody(guarded: DevSynapseServer, raw: RawConnect) -> None:
    listener = await raw(guarded)
    assert await listener.request(HELLO) == {"op": "welcome"}
    await listener.send({"op": "sub", "sub_id": "all", "subject": "cosmonapse.ns.>"})
    assert await listener.request({"op": "ping"}) == {"op": "pong"}

    intruder = await raw(guarded)
    # Everything at once: only the first line is read before the refusal.
    await intruder.send(
        orjson.dumps({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": '"intruder"'})
        + b"\n"
        + orjson.dumps({"op": "hello", "token": TOKEN})
        + b"\n"
        + orjson.dumps({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": '"intruder"'})
        + b"\n"
    )
    reply = await intruder.recv()
    assert reply["op"] == "err" and "before 'pub'" in reply["message"]
    assert await intruder.at_eof()

    await listener.send({"op": "pub", "subject": "cosmonapse.ns.TASK", "frame": '"member"'})
    first = await listener.recv()
    assert first["frame"] == '"member"'
    assert guarded.stats["published"] == 1


async def test_no_hello_in_time_is_refused() -> None:
    limits = ServerLimits(hello_timeout_s=0.2)
    async with DevSynapseServer("127.0.0.1", port=0, token=TOKEN, limits=limits) as srv:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        client = RawClient(reader, writer)
        try:
            writer.write(b'{"op":"hel')  # a partial line is not a hello either
            reply = await client.recv(within=10)
            assert reply == {
                "op": "err",
                "message": 'authentication required: no {"op":"hello","token":"..."} within '
                "0.2 s; closing the connection",
            }
            assert await client.at_eof()
            assert srv.stats["auth_failures"] == 1
        finally:
            await client.close()


async def test_an_authenticated_client_has_no_deadline(raw: RawConnect) -> None:
    limits = ServerLimits(hello_timeout_s=0.05)
    async with DevSynapseServer("127.0.0.1", port=0, token=TOKEN, limits=limits) as srv:
        client = await raw(srv)
        assert await client.request(HELLO) == {"op": "welcome"}
        # Long past the hello deadline (by the server's own clock: it has answered
        # another client's refusal), this client is still served.
        late = await raw(srv)
        await late.at_eof(within=10)
        assert srv.stats["auth_failures"] == 1
        assert await client.request({"op": "ping"}) == {"op": "pong"}


async def test_server_log_names_the_refusal_not_the_token(
    guarded: DevSynapseServer, raw: RawConnect, caplog: pytest.LogCaptureFixture
) -> None:
    await refused(await raw(guarded), {"op": "hello", "token": TOKEN + "-wrong"})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("refused client" in m and "wrong token" in m for m in warnings), warnings
    assert all(TOKEN not in m for m in warnings)


def test_the_token_must_be_a_non_empty_string() -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        DevSynapseServer("127.0.0.1", port=0, token="")
    with pytest.raises(TypeError, match="token must be a string"):
        DevSynapseServer("127.0.0.1", port=0, token=b"bytes")  # type: ignore[arg-type]


# -- where the server may listen ---------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::"])
async def test_an_open_bind_without_a_token_is_refused(host: str) -> None:
    server = DevSynapseServer(host, port=0)
    with pytest.raises(ConfigError) as info:
        await server.start()
    message = str(info.value)
    assert f"refusing to listen on {host!r} without a token" in message
    assert "--token" in message and "COSMO_TOKEN" in message
    assert server.addresses == []  # nothing was bound
    await server.close()


async def test_an_open_bind_with_a_token_starts(
    raw: RawConnect, caplog: pytest.LogCaptureFixture
) -> None:
    async with DevSynapseServer("0.0.0.0", port=0, token=TOKEN) as srv:
        assert srv.addresses and srv.addresses[0][0] == "0.0.0.0"
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        client = RawClient(reader, writer)
        try:
            assert await client.request(HELLO) == {"op": "welcome"}
        finally:
            await client.close()
    assert any("not encrypted" in r.getMessage() for r in caplog.records)


# -- the cosmo command -------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COSMO_TOKEN", "SYNAPSE_URL")}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", NO_COLOR="1", **extra)
    return env


async def _cosmo(*args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        COSMO,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(**env),
    )


async def test_cosmo_refuses_an_open_bind_without_a_token() -> None:
    proc = await _cosmo("synapse", "start", "memory", "--host", "0.0.0.0", "--port", "0")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 1, (out, err)
    assert text.startswith("error: refusing to listen on '0.0.0.0' without a token")
    assert "--token" in text and "COSMO_TOKEN" in text
    assert "Traceback" not in text and out == b""


async def _banner_port(proc: asyncio.subprocess.Process) -> int:
    assert proc.stdout is not None
    raw_lines = [await asyncio.wait_for(proc.stdout.readline(), 30) for _ in range(4)]
    lines = [ANSI.sub("", line.decode()).strip() for line in raw_lines]
    url = lines[0].split()[-1]
    assert lines[2].split(None, 1)[1] == (
        "TCP + NDJSON, clients must present the token (not encrypted)"
    ), lines
    assert all(TOKEN not in line for line in lines)
    return int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("how", ["env", "option"])
async def test_cosmo_takes_the_token_from_the_option_or_cosmo_token(how: str) -> None:
    args = ["synapse", "start", "memory", "--port", "0", "--quiet"]
    env: dict[str, str] = {}
    if how == "env":
        env["COSMO_TOKEN"] = TOKEN
    else:
        args += ["--token", TOKEN]
    proc = await _cosmo(*args, **env)
    try:
        port = await _banner_port(proc)
        for token, expected in ((TOKEN + "no", "err"), (TOKEN, "welcome")):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            client = RawClient(reader, writer)
            try:
                reply = await client.request({"op": "hello", "token": token})
                assert reply["op"] == expected, reply
            finally:
                await client.close()
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        assert TOKEN not in (out + err).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
