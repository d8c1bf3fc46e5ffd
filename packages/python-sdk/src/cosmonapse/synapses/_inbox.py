"""A bounded, single-consumer inbox with its own pump task.

Transports push frames here from their read loop (never blocking it) and the pump awaits
the handler one frame at a time. Used by the memory synapse and the network clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from .base import MessageHandler, log_handler_error

log = logging.getLogger("cosmonapse.synapse")


class Inbox:
    """Bounded FIFO of ``(subject, data)`` drained by one task into ``handler``.

    ``push`` never blocks: past ``max_pending`` it drops the frame, counts it, and logs
    a warning (on the first drop and every thousandth after).
    """

    __slots__ = ("_handler", "_items", "_max", "_name", "_task", "_waiter", "delivered", "dropped")

    def __init__(self, handler: MessageHandler, *, max_pending: int, name: str) -> None:
        self._handler = handler
        self._items: deque[tuple[str, bytes]] = deque()
        self._max = max_pending
        self._name = name
        self._waiter: asyncio.Future[None] | None = None
        self.delivered = 0
        self.dropped = 0
        self._task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            self._pump(), name=f"cosmonapse-inbox:{name}"
        )

    def push(self, subject: str, data: bytes) -> bool:
        """Queue one frame; False (and counted) when the inbox is full."""
        items = self._items
        if len(items) >= self._max:
            if self.dropped % 1000 == 0:  # the first drop, then every thousandth
                log.warning(
                    "subscription %s is not keeping up: its buffer of %d is full, "
                    "dropping frames (dropped so far: %d)",
                    self._name,
                    self._max,
                    self.dropped + 1,
                )
            self.dropped += 1
            return False
        items.append((subject, data))
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    @property
    def pending(self) -> int:
        return len(self._items)

    async def _pump(self) -> None:
        items = self._items
        handler = self._handler
        loop = asyncio.get_running_loop()
        while True:
            if not items:
                self._waiter = loop.create_future()
                await self._waiter
                continue
            subject, data = items.popleft()
            try:
                await handler(subject, data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a handler error is never fatal
                log_handler_error(subject, exc)
            self.delivered += 1

    async def aclose(self) -> None:
        """Cancel the pump and wait for it; pending frames are discarded."""
        self._items.clear()
        task = self._task
        if not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
