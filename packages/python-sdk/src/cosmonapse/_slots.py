"""A counting limit on concurrent work, with a synchronous fast path.

:class:`asyncio.Semaphore` costs a coroutine and an ``async with`` even when a slot is
free, which is nearly always. :class:`Slots` is taken with :meth:`Slots.try_acquire` (no
await) and falls back to :meth:`Slots.acquire` only when every slot is busy; waiters are
served first come, first served.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Slots:
    """``limit`` slots. Pair every successful acquire with one :meth:`release`."""

    __slots__ = ("_free", "_waiters", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a slot limit must be at least 1")
        self.limit = limit
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is queued for it; never waits."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a slot. A cancelled waiter gives back a slot handed to it."""
        if self.try_acquire():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    def release(self) -> None:
        """Give a slot back, to the longest waiter if there is one."""
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes straight to the waiter
                return
        self._free += 1
