"""Small waiting helpers shared by the NATS tests (deadlines are hang guards only)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from cosmonapse.synapses.nats import NatsSynapse


class Received:
    """A handler that records ``(subject, data)`` and can be waited on."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self._changed = asyncio.Event()

    async def __call__(self, subject: str, data: bytes) -> None:
        self.items.append((subject, data))
        self._changed.set()

    @property
    def data(self) -> list[bytes]:
        return [d for _, d in self.items]

    async def wait_for(self, n: int, within: float = 10.0) -> None:
        """Wait until ``n`` messages arrived; TimeoutError after ``within`` seconds."""

        async def _wait() -> None:
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_wait(), within)


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``condition`` until it holds; raise TimeoutError after ``within`` seconds."""

    async def _poll() -> None:
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(_poll(), within)


async def reconnected(synapse: NatsSynapse, count: int = 1) -> None:
    """Wait until ``synapse`` has reconnected ``count`` times and is connected now."""
    await eventually(
        lambda: synapse.stats["reconnects"] >= count and synapse.connected_server is not None
    )
