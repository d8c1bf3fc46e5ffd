"""The SDK's ``cosmo://`` client against the CLI's dev synapse started with a token: the
token from the URL, the keyword or COSMO_TOKEN; refusals that raise at once and stop the
retries; the token re-sent on every reconnect; and never a token in a URL shown, a repr,
an exception or a log record."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from cosmonapse import (
    SynapseAuthError,
    SynapseConnectError,
    connect_synapse,
)
from cosmonapse.synapses.dev import DevSynapse, connect
from cosmonapse_cli.server import DevSynapseServer

TOKEN = "tok-" + secrets.token_hex(12)
OTHER = "other-" + secrets.token_hex(12)
ODD = "p@ss/w:rd?#%-" + secrets.token_hex(6)  # needs percent-encoding in a URL
SECRETS = (TOKEN, OTHER, ODD, quote(ODD, safe=""))
COSMO = str(Path(sys.executable).with_name("cosmo"))


def assert_clean(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), text


@pytest.fixture(autouse=True)
def _no_secret_in_any_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every record of every logger is captured; none may hold a token. COSMO_TOKEN is
    unset unless a test sets it."""
    monkeypatch.delenv("COSMO_TOKEN", raising=False)
    caplog.set_level(logging.DEBUG)
    yield
    assert_clean(caplog.text, *(r.getMessage() for r in caplog.records))


@pytest.fixture
async def guarded() -> AsyncIterator[DevSynapseServer]:
    async with DevSynapseServer("127.0.0.1", port=0, token=TOKEN) as srv:
        yield srv


def with_token(server: DevSynapseServer, token: str) -> str:
    return f"cosmo://:{quote(token, safe='')}@127.0.0.1:{server.port}"


class Inbox:
    def __init__(self) -> None:
        self.items: list[bytes] = []
        self._changed = asyncio.Event()

    async def __call__(self, subject: str, data: bytes) -> None:
        self.items.append(data)
        self._changed.set()

    async def wait_for(self, n: int) -> None:
        async def wait() -> None:
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), 10)


async def round_trip(synapse: DevSynapse, data: bytes = b"ok") -> None:
    inbox = Inbox()
    sub = await synapse.subscribe("cosmonapse.ns.TASK", inbox)
    await synapse.publish("cosmonapse.ns.TASK", data)
    await inbox.wait_for(1)
    assert inbox.items == [data]
    await sub.unsubscribe()


# -- getting in --------------------------------------------------------------------------


async def test_token_in_the_url(guarded: DevSynapseServer) -> None:
    synapse = await connect_synapse(with_token(guarded, TOKEN))
    assert isinstance(synapse, DevSynapse)
    try:
        await round_trip(synapse)
        assert synapse.url == f"cosmo://:***@127.0.0.1:{guarded.port}"
        assert repr(synapse) == f"<DevSynapse 'cosmo://:***@127.0.0.1:{guarded.port}' open>"
        assert_clean(synapse.url, repr(synapse), synapse.stats)
    finally:
        await synapse.close()
    assert guarded.stats["auth_failures"] == 0


async def test_a_percent_encoded_token_is_decoded() -> None:
    async with DevSynapseServer("127.0.0.1", port=0, token=ODD) as server:
        synapse = await connect(with_token(server, ODD))
        try:
            await round_trip(synapse)
        finally:
            await synapse.close()


async def test_token_as_a_keyword(guarded: DevSynapseServer) -> None:
    synapse = await connect_synapse(guarded.url, token=TOKEN)
    try:
        await round_trip(synapse)
    finally:
        await synapse.close()


async def test_token_from_cosmo_token(
    guarded: DevSynapseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMO_TOKEN", TOKEN)
    synapse = await connect_synapse(guarded.url)
    try:
        await round_trip(synapse)
        assert synapse.url.startswith("cosmo://:***@")
    finally:
        await synapse.close()


async def test_the_url_and_the_keyword_win_over_cosmo_token(
    guarded: DevSynapseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMO_TOKEN", OTHER)
    for synapse in (
        await connect_synapse(with_token(guarded, TOKEN)),
        await connect_synapse(guarded.url, token=TOKEN),
        await connect_synapse(with_token(guarded, OTHER), token=TOKEN),
    ):
        try:
            await round_trip(synapse)
        finally:
            await synapse.close()


async def test_a_server_without_a_token_welcomes_a_client_with_one(
    server: DevSynapseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMO_TOKEN", OTHER)
    for synapse in (
        await connect_synapse(server.url),
        await connect_synapse(with_token(server, TOKEN)),
    ):
        try:
            await round_trip(synapse)
        finally:
            await synapse.close()


# -- refused ------------------------------------------------------------------------------


async def test_a_wrong_token_raises_auth_error(guarded: DevSynapseServer) -> None:
    with pytest.raises(SynapseAuthError) as info:
        await connect_synapse(with_token(guarded, OTHER))
    message = str(info.value)
    assert message == (
        f"cosmo://:***@127.0.0.1:{guarded.port} refused the connection: "
        "authentication failed: wrong token; closing the connection"
    )
    assert_clean(message, repr(info.value), info.value.args)
    assert guarded.stats["auth_failures"] == 1


async def test_a_missing_token_raises_auth_error_with_the_fix(guarded: DevSynapseServer) -> None:
    with pytest.raises(SynapseAuthError, match=r"needs a token in hello .*COSMO_TOKEN"):
        await connect_synapse(guarded.url)
    # SynapseAuthError is a SynapseConnectError: existing handlers still catch it.
    with pytest.raises(SynapseConnectError):
        await connect_synapse(guarded.url)


async def test_cosmo_synapse_view_with_a_token_never_prints_it(guarded: DevSynapseServer) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COSMO_TOKEN", "SYNAPSE_URL")}
    env.update(COLUMNS="200", NO_COLOR="1")
    guarded.register_namespace("ns")
    for url, code in ((with_token(guarded, TOKEN), 0), (with_token(guarded, OTHER), 1)):
        proc = await asyncio.create_subprocess_exec(
            COSMO,
            "synapse",
            "view",
            "--url",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == code, (out, err)
        text = (out + err).decode()
        assert_clean(text)
        assert "Traceback" not in text
        if code == 0:
            assert f"cosmo://:***@127.0.0.1:{guarded.port}" in text and "ns" in text
        else:
            assert "authentication failed: wrong token" in text


# -- reconnecting -------------------------------------------------------------------------


async def test_every_reconnect_sends_the_token_again(eventually) -> None:
    first = DevSynapseServer("127.0.0.1", port=0, token=TOKEN)
    await first.start()
    synapse = await connect(with_token(first, TOKEN), reconnect_delay=0.02, reconnect_max_delay=0.2)
    second = DevSynapseServer("127.0.0.1", port=first.port, token=TOKEN)
    try:
        inbox = Inbox()
        await synapse.subscribe("cosmonapse.ns.TASK", inbox)
        await first.close()
        await eventually(lambda: not synapse.connected)
        await second.start()
        await eventually(lambda: synapse.stats["reconnects"] == 1)
        await synapse.flush()  # the replayed subscription was accepted before this ping
        assert second.stats["subscriptions"] == 1
        assert second.stats["auth_failures"] == 0
        await synapse.publish("cosmonapse.ns.TASK", b"after the restart")
        await inbox.wait_for(1)
    finally:
        await synapse.close()
        await first.close()
        await second.close()


async def test_a_token_refused_on_reconnect_stops_the_retries(
    caplog: pytest.LogCaptureFixture, eventually
) -> None:
    first = DevSynapseServer("127.0.0.1", port=0, token=TOKEN)
    await first.start()
    synapse = await connect(
        with_token(first, TOKEN),
        reconnect_attempts=1000,  # plenty left: stopping early is the point
        reconnect_delay=0.02,
        reconnect_max_delay=0.05,
    )
    second = DevSynapseServer("127.0.0.1", port=first.port, token=OTHER)  # rotated
    try:
        await first.close()
        await eventually(lambda: not synapse.connected)
        await second.start()
        await eventually(lambda: synapse.closed)
        with pytest.raises(SynapseAuthError, match="authentication failed: wrong token") as info:
            await synapse.publish("cosmonapse.ns.TASK", b"x")
        assert_clean(str(info.value))
        # One refusal was enough: no further attempts against the rotated server.
        assert second.stats["auth_failures"] == 1
        assert second.stats["connections_total"] == 1
        messages = [r.getMessage() for r in caplog.records]
        assert any(
            "could not reconnect" in m and "this synapse is now closed" in m for m in messages
        )
    finally:
        await synapse.close()
        await first.close()
        await second.close()
