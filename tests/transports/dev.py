"""The dev synapse transport for the contract suite: a real server on a free loopback
port and real TCP clients (``cosmo://``), one per ``connect()``."""

from __future__ import annotations

from cosmonapse import Synapse, connect_synapse
from cosmonapse_cli.server import DevSynapseServer


class DevTransport:
    def __init__(self, server: DevSynapseServer) -> None:
        self.server = server
        self.url = server.url
        self._clients: list[Synapse] = []

    async def connect(self) -> Synapse:
        client = await connect_synapse(self.url)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
        await self.server.close()


async def open_transport() -> DevTransport:
    server = DevSynapseServer("127.0.0.1", port=0)
    await server.start()
    return DevTransport(server)
