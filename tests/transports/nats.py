"""The NATS transport for the contract suite: a real nats-server on a free loopback port.

Each test gets its own server (it starts in tens of milliseconds) and as many clients as
it asks for, each its own TCP connection, so queue groups and ordering are exercised
across connections exactly as they are in production.
"""

from __future__ import annotations

import asyncio

from cosmonapse import Synapse, connect_synapse

from tests.nats_servers import NatsServer


class NatsTransport:
    def __init__(self, server: NatsServer) -> None:
        self.server = server
        self.url = server.url
        self._clients: list[Synapse] = []

    async def connect(self) -> Synapse:
        synapse = await connect_synapse(self.url)
        self._clients.append(synapse)
        return synapse

    async def aclose(self) -> None:
        try:
            await asyncio.gather(*(c.close() for c in self._clients))
        finally:
            self.server.close()


async def open_transport() -> NatsTransport:
    return NatsTransport(NatsServer().start())
