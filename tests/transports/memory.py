"""The in-process transport for the contract suite."""

from __future__ import annotations

from cosmonapse import MemorySynapse, Synapse


class MemoryTransport:
    url = "memory://"

    def __init__(self) -> None:
        self._synapse = MemorySynapse()

    async def connect(self) -> Synapse:
        return self._synapse

    async def aclose(self) -> None:
        await self._synapse.close()


async def open_transport() -> MemoryTransport:
    return MemoryTransport()
