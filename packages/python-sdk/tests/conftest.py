"""Shared fixtures of the SDK tests.

``bus`` is a factory of Synapse clients all attached to one bus. Tests that take it run
once in process (every client is the same MemorySynapse) and once over the dev synapse
(a ``DevSynapseServer`` on a free loopback port, each client its own TCP connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from cosmonapse import MemorySynapse, Signal, Synapse, connect_synapse
from cosmonapse.subjects import namespace_wildcard

HANG_GUARD_S = 10.0
"""Deadline for anything a test waits on: a hang guard, never a timing assertion."""


class Bus:
    """Hands out Synapse clients of one bus and closes them all at the end."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._clients: list[Synapse] = []
        self._memory: MemorySynapse | None = None
        self._server: Any = None

    async def open(self) -> None:
        if self.kind == "memory":
            self._memory = MemorySynapse()
        else:
            from cosmonapse_cli.server import DevSynapseServer

            self._server = DevSynapseServer("127.0.0.1", port=0)
            await self._server.start()

    @property
    def url(self) -> str:
        return self._memory.url if self._memory is not None else str(self._server.url)

    async def connect(self) -> Synapse:
        if self._memory is not None:
            return self._memory
        synapse = await connect_synapse(self._server.url)
        self._clients.append(synapse)
        return synapse

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
        if self._memory is not None:
            await self._memory.close()
        if self._server is not None:
            await self._server.close()


@pytest.fixture(params=["memory", "dev"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    b = Bus(request.param)
    await b.open()
    try:
        yield b
    finally:
        await asyncio.wait_for(b.aclose(), HANG_GUARD_S)


@pytest.fixture
async def memory() -> AsyncIterator[MemorySynapse]:
    synapse = MemorySynapse()
    try:
        yield synapse
    finally:
        await synapse.close()


async def eventually(
    check: Callable[[], bool] | Callable[[], Awaitable[bool]],
    *,
    limit_s: float = HANG_GUARD_S,
    what: str = "condition",
) -> None:
    """Poll ``check`` until it is true; fail (not hang) after ``limit_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not become true within {limit_s} s")
        await asyncio.sleep(0.005)


async def record(synapse: Synapse, namespace: str) -> list[Signal]:
    """Subscribe to every Signal of ``namespace``; returns the list they are appended to."""
    heard: list[Signal] = []

    async def hear(subject: str, data: bytes) -> None:
        heard.append(Signal.decode(data))

    await synapse.subscribe(namespace_wildcard(namespace), hear)
    return heard


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    return eventually
