"""A bounded, single-consumer inbox: where a transport hands frames to one subscription.

Transports push frames here from a callback of their own, never from inside a sender's
``publish``: the dev and NATS clients from their read loop, the memory synapse from the
``call_soon`` callback that drains its queue (docs/protocol.md section 4 for the dev
wire). ``push`` never blocks. How the frames reach the handler depends on the handler:

* an ``async def`` handler gets a pump task that awaits it one frame at a time;
* a plain function (see :data:`~cosmonapse.synapses.base.MessageHandler`) is called
  straight from :meth:`Inbox.push` when nothing is queued ahead of the frame, which saves
  the frame a trip through the event loop; when frames are queued (or the handler is
  already running), they are drained in order from a ``call_soon`` callback instead, a
  bounded batch per loop iteration so one busy subscription cannot starve the others.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

from .base import log_handler_error

log = logging.getLogger("cosmonapse.synapse")

_BATCH = 256  # frames a plain handler gets per loop iteration while a backlog drains

D = TypeVar("D")  # what the handler takes: bytes, or a transport's own frame objects


def is_plain_handler(handler: Callable[..., object]) -> bool:
    """True when ``handler`` is a plain function rather than an ``async def``."""
    if inspect.iscoroutinefunction(handler):
        return False
    call = getattr(handler, "__call__", None)  # noqa: B004 - an object with async __call__
    return not inspect.iscoroutinefunction(call)


class Inbox(Generic[D]):
    """Bounded FIFO of ``(subject, data)`` delivered in order to one handler.

    ``push`` never blocks: past ``max_pending`` it drops the frame, counts it, and logs
    a warning (on the first drop and every thousandth after).
    """

    __slots__ = (
        "_closed",
        "_handler",
        "_loop",
        "_max",
        "_name",
        "_plain",
        "_running",
        "_scheduled",
        "_side_tasks",
        "_task",
        "_waiter",
        "delivered",
        "dropped",
        "items",
    )

    def __init__(
        self, handler: Callable[[str, D], Awaitable[None] | None], *, max_pending: int, name: str
    ) -> None:
        self._handler = handler
        self.items: deque[tuple[str, D]] = deque()  # frames waiting (read, never change)
        self._max = max_pending
        self._name = name
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._plain = is_plain_handler(handler)
        self._running = False  # a plain handler is on the stack right now
        self._scheduled = False  # a drain callback is pending
        self._closed = False
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self.delivered = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        if not self._plain:
            self._task = self._loop.create_task(self._pump(), name=f"cosmonapse-inbox:{name}")

    def push(self, subject: str, data: D) -> bool:
        """Hand over one frame; False (and counted) when the inbox is full or closed."""
        if self._closed:
            return False
        items = self.items
        if self._plain and not items and not self._running:
            self._call(subject, data)  # nothing ahead of it: deliver now
            return True
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
        if self._plain:
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._drain)
        else:
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        return True

    @property
    def pending(self) -> int:
        return len(self.items)

    def _call(self, subject: str, data: D) -> None:
        self._running = True
        try:
            result = self._handler(subject, data)
            if result is not None:  # a plain function that returned an awaitable
                self._run_aside(result)
        except Exception as exc:  # a handler error is never fatal
            log_handler_error(subject, exc)
        finally:
            self._running = False
        self.delivered += 1

    def _run_aside(self, awaitable: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await awaitable
            except Exception as exc:
                log_handler_error(self._name, exc)

        task = self._loop.create_task(run())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _drain(self) -> None:
        self._scheduled = False
        items = self.items
        for _ in range(_BATCH):
            if not items or self._closed:
                return
            subject, data = items.popleft()
            self._call(subject, data)
        if items and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._drain)

    async def _pump(self) -> None:
        items = self.items
        handler = self._handler
        loop = self._loop
        while True:
            if not items:
                self._waiter = loop.create_future()
                await self._waiter
                continue
            subject, data = items.popleft()
            try:
                await cast(Awaitable[None], handler(subject, data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a handler error is never fatal
                log_handler_error(subject, exc)
            self.delivered += 1

    async def aclose(self) -> None:
        """Stop delivering; pending frames are discarded and owned tasks cancelled."""
        self._closed = True
        self.items.clear()
        current = asyncio.current_task()
        tasks = [t for t in (self._task, *self._side_tasks) if t is not None]
        tasks = [t for t in tasks if not t.done() and t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
