"""Fixtures for the CLI tests: a dev synapse server on a free loopback port, and raw
NDJSON clients that speak the wire by hand, as a peer built on docs/protocol.md would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from cosmonapse_cli.server import DevSynapseServer


class RawClient:
    """A bare TCP client: writes lines, reads lines, with hang guards only."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, line: dict[str, Any] | bytes) -> None:
        data = line if isinstance(line, bytes) else orjson.dumps(line) + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def recv_line(self, within: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), within)

    async def recv(self, within: float = 5.0) -> dict[str, Any]:
        line = await self.recv_line(within)
        assert line.endswith(b"\n"), f"connection ended: {line!r}"
        value = orjson.loads(line)
        assert isinstance(value, dict)
        return value

    async def request(self, line: dict[str, Any] | bytes) -> dict[str, Any]:
        await self.send(line)
        return await self.recv()

    async def expect_err(self, line: dict[str, Any] | bytes) -> str:
        """Send ``line``, expect one ``err`` and prove the connection still works."""
        reply = await self.request(line)
        assert reply["op"] == "err", reply
        assert await self.request({"op": "ping"}) == {"op": "pong"}
        return str(reply["message"])

    async def at_eof(self, within: float = 5.0) -> bool:
        """Read whatever is left; True once the server has closed the connection."""

        async def drain() -> None:
            while await self.reader.read(65_536):
                pass

        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(drain(), within)
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


RawConnect = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def server() -> AsyncIterator[DevSynapseServer]:
    async with DevSynapseServer("127.0.0.1", port=0) as srv:
        yield srv


@pytest.fixture
async def raw() -> AsyncIterator[RawConnect]:
    """``await raw(server)`` opens a raw client; all are closed after the test."""
    clients: list[RawClient] = []

    async def open_client(
        srv: DevSynapseServer, *, read_banner: bool = True, **kwargs: Any
    ) -> RawClient:
        """``read_banner``: read off the ``welcome`` a server without a token writes on
        connect (docs/protocol.md, section 4), so a test starts on a quiet line."""
        reader, writer = await asyncio.open_connection(srv.host, srv.port, **kwargs)
        client = RawClient(reader, writer)
        clients.append(client)
        if read_banner and not srv.token_required:
            assert await client.recv() == {"op": "welcome"}
        return client

    yield open_client
    for client in clients:
        await client.close()


async def _eventually(predicate: Callable[[], bool], *, within_s: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 (counters of other objects have no event)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), within_s)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(predicate)``: wait until it holds; fail after 10 s (a hang
    guard, not a timing assertion)."""
    return _eventually
