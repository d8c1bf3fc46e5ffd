"""Connecting to NATS: URLs, server lists, credentials, and failing clearly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from cosmonapse import SynapseAuthError, SynapseConnectError, connect_synapse
from cosmonapse.synapses._nats_config import parse_config
from cosmonapse.synapses.nats import NatsSynapse

from tests.nats.helpers import Received
from tests.nats_servers import NatsServer

SECRET = "hunter2:s3cret@pw"  # ':' and '@' must survive URL quoting


# -- URL and option parsing -------------------------------------------------------------


def test_server_list_defaults_and_redaction() -> None:
    config = parse_config("nats://u:pw@a:4223,b,nats://[::1]:5000,tls://c", {})
    assert config.servers == (
        "nats://a:4223",
        "nats://b:4222",
        "nats://[::1]:5000",
        "tls://c:4222",
    )
    assert config.url == "nats://a:4223,nats://b:4222,nats://[::1]:5000,tls://c:4222"
    assert (config.user, config.password, config.token) == ("u", "pw", None)
    assert parse_config("nats://", {}).servers == ("nats://127.0.0.1:4222",)


def test_credentials_from_url_are_decoded_and_keywords_win() -> None:
    config = parse_config(f"nats://alice:{quote(SECRET, safe='')}@h:1", {})
    assert (config.user, config.password) == ("alice", SECRET)
    assert parse_config("nats://tok%2Fen@h:1", {}).token == "tok/en"
    config = parse_config("nats://alice:pw@h:1", {"token": "t"})
    assert (config.user, config.password, config.token) == (None, None, "t")


@pytest.mark.parametrize(
    ("url", "options", "error"),
    [
        ("http://h:1", {}, ValueError),
        ("nats://h:1/path", {}, ValueError),
        ("nats://h:notaport", {}, ValueError),
        ("nats://h:1,,nats://g:1", {}, ValueError),
        ("nats://a:pw1@h:1,nats://b:pw2@g:1", {}, ValueError),
        ("nats://h:1", {"password": "p"}, ValueError),
        ("nats://h:1", {"user": "u", "password": "p", "token": "t"}, ValueError),
        ("nats://h:1", {"connect_timeout": 0}, ValueError),
        ("nats://h:1", {"max_pending": 0}, ValueError),
        ("nats://h:1", {"tls": "yes"}, ValueError),
        ("nats://h:1", {"no_such_option": 1}, TypeError),
    ],
)
def test_bad_url_or_option_is_refused(
    url: str, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        parse_config(url, options)
    assert "pw1" not in str(info.value) and "pw2" not in str(info.value)


# -- connecting to real servers -----------------------------------------------------------


async def test_connect_synapse_picks_nats_by_scheme(nats_server: NatsServer) -> None:
    synapse = await connect_synapse(nats_server.url)
    assert isinstance(synapse, NatsSynapse)
    try:
        assert synapse.url == nats_server.url
        assert synapse.connected_server == f"127.0.0.1:{nats_server.port}"
        assert synapse.max_frame_bytes == 1024 * 1024  # the server's default max_payload
    finally:
        await synapse.close()
    assert synapse.closed


async def test_server_list_skips_servers_that_do_not_answer(nats_server: NatsServer) -> None:
    dead = NatsServer().start()
    dead.close()  # a port that just refused, on purpose
    url = f"{dead.url},{nats_server.url}"
    for _ in range(3):  # the pool is shuffled; whichever comes first, one answers
        synapse = await connect_synapse(url)
        assert isinstance(synapse, NatsSynapse)
        assert synapse.connected_server == f"127.0.0.1:{nats_server.port}"
        await synapse.close()


async def test_no_server_is_a_clear_error_naming_every_url() -> None:
    dead = [NatsServer().start() for _ in range(2)]
    for server in dead:
        server.close()
    url = ",".join(s.url for s in dead)
    with pytest.raises(SynapseConnectError) as info:
        await asyncio.wait_for(connect_synapse(url), 10)  # hang guard; fails in milliseconds
    message = str(info.value)
    assert "no NATS server answered" in message
    assert all(s.url in message for s in dead)
    assert isinstance(info.value, ConnectionError)


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says anything (no INFO)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    silent_port: int,
) -> None:
    with pytest.raises(SynapseConnectError) as info:
        await asyncio.wait_for(
            connect_synapse(f"nats://127.0.0.1:{silent_port}", connect_timeout=0.3), 10
        )
    assert "timed out" in str(info.value)


# -- credentials ------------------------------------------------------------------------


async def test_user_and_password_from_url_and_from_keywords(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cosmonapse")
    with NatsServer(user="alice", password=SECRET) as server:
        in_url = server.url.replace("nats://", f"nats://alice:{quote(SECRET, safe='')}@")
        for synapse in (
            await connect_synapse(in_url),
            await connect_synapse(server.url, user="alice", password=SECRET),
        ):
            got = Received()
            await synapse.subscribe("cosmonapse.auth.TASK", got)
            await synapse.publish("cosmonapse.auth.TASK", b"ok")
            await got.wait_for(1)
            assert synapse.url == server.url
            assert SECRET not in repr(synapse) and quote(SECRET, safe="") not in synapse.url
            await synapse.close()

        with pytest.raises(SynapseConnectError) as info:
            await asyncio.wait_for(connect_synapse(server.url, user="alice", password="no"), 10)
        assert "refused the credentials" in str(info.value)
        assert isinstance(info.value, SynapseAuthError)
        with pytest.raises(SynapseConnectError):
            await asyncio.wait_for(connect_synapse(server.url), 10)
    assert SECRET not in caplog.text and quote(SECRET, safe="") not in caplog.text


async def test_token_from_url_and_from_keywords(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cosmonapse")
    token = "tkn-0123456789"
    with NatsServer(token=token) as server:
        for synapse in (
            await connect_synapse(server.url.replace("nats://", f"nats://{token}@")),
            await connect_synapse(server.url, token=token),
        ):
            got = Received()
            await synapse.subscribe("cosmonapse.auth.TASK", got)
            await synapse.publish("cosmonapse.auth.TASK", b"ok")
            await got.wait_for(1)
            assert token not in synapse.url
            await synapse.close()
        with pytest.raises(SynapseConnectError) as info:
            await asyncio.wait_for(connect_synapse(server.url, token="wrong-token"), 10)
        assert "refused the credentials" in str(info.value)
        assert isinstance(info.value, SynapseAuthError)
    assert token not in caplog.text
