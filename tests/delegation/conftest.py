"""Fixtures: one bus per transport (in process, a real dev synapse over TCP, a real
nats-server), handing out a client per Dendrite as separate processes would have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cosmonapse import MemorySynapse, Signal, Synapse, connect_synapse
from cosmonapse.subjects import namespace_wildcard

from tests.nats_servers import NatsServer

HANG_GUARD_S = 20.0
"""Deadline for anything a test waits on: a hang guard, never a timing assertion."""


class Bus:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.url = ""
        self._clients: list[Synapse] = []
        self._memory: MemorySynapse | None = None
        self._server: Any = None
        self._nats: NatsServer | None = None

    async def open(self) -> None:
        if self.kind == "memory":
            self._memory = MemorySynapse()
            self.url = self._memory.url
        elif self.kind == "dev":
            from cosmonapse_cli.server import DevSynapseServer

            self._server = DevSynapseServer("127.0.0.1", port=0)
            await self._server.start()
            self.url = str(self._server.url)
        else:
            self._nats = NatsServer()
            self._nats.__enter__()
            self.url = self._nats.url

    async def connect(self) -> Synapse:
        if self._memory is not None:
            return self._memory
        synapse = await connect_synapse(self.url)
        self._clients.append(synapse)
        return synapse

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
        if self._memory is not None:
            await self._memory.close()
        if self._server is not None:
            await self._server.close()
        if self._nats is not None:
            self._nats.__exit__(None, None, None)


@pytest.fixture(params=["memory", "dev", "nats"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    b = Bus(request.param)
    await b.open()
    try:
        yield b
    finally:
        await asyncio.wait_for(b.aclose(), HANG_GUARD_S)


async def record(synapse: Synapse, namespace: str) -> list[Signal]:
    """Every Signal of ``namespace``, in arrival order (a passive observer)."""
    heard: list[Signal] = []

    async def hear(subject: str, data: bytes) -> None:
        heard.append(Signal.decode(data))

    await synapse.subscribe(namespace_wildcard(namespace), hear)
    return heard


async def eventually(check: Callable[[], bool], *, what: str) -> None:
    """Poll ``check`` until it is true; fail (not hang) after the hang guard."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD_S
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
