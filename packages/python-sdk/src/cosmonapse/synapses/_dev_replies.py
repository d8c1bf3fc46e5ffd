"""Replies the dev synapse client awaits, and its subscriptions as the client sees them.

The server answers a connection's requests in the order it sent them (docs/protocol.md
section 4), so the waiters are FIFO per reply ``op`` and bounded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..exceptions import SynapseError
from . import _ndjson
from ._inbox import Inbox
from .base import Subscription

__all__ = ["DevSubscription", "ReplyWaiters", "ServerErrors"]

MAX_OUTSTANDING = 1024
"""Requests awaiting a reply, per reply kind."""


class ReplyWaiters:
    """Futures awaiting a server reply, FIFO per reply ``op``, at most
    :data:`MAX_OUTSTANDING` each."""

    __slots__ = ("_url", "_waiters")

    def __init__(self, url: str) -> None:
        self._url = url
        self._waiters: dict[str, deque[asyncio.Future[dict[str, Any]]]] = {}

    def expect(self, reply_op: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``reply_op`` reply; SynapseError past the bound."""
        queue = self._waiters.setdefault(reply_op, deque())
        if len(queue) >= MAX_OUTSTANDING:
            raise SynapseError(f"{self._url}: {len(queue)} requests already await {reply_op!r}")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        queue.append(future)
        return future

    def resolve(self, op: object, reply: dict[str, Any]) -> None:
        """Hand ``reply`` to the oldest waiter for ``op``, if any."""
        waiters = self._waiters.get(op) if type(op) is str else None
        if waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(reply)

    def fail_all(self, exc: SynapseError) -> None:
        """Fail every waiter with ``exc`` (the connection dropped or closed)."""
        waiters, self._waiters = self._waiters, {}
        for queue in waiters.values():
            for future in queue:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved here: nobody may be awaiting it


class DevSubscription(Subscription):
    """One subscription of a dev synapse client: its ``sub_id``, inbox and ``sub`` line."""

    __slots__ = ("_unsubscribe", "inbox", "line", "queue_group", "sub_id", "subject")

    def __init__(
        self,
        unsubscribe: Callable[[DevSubscription], Awaitable[None]],
        sub_id: str,
        subject: str,
        queue_group: str | None,
        inbox: Inbox[bytes],
    ) -> None:
        self._unsubscribe = unsubscribe
        self.sub_id = sub_id
        self.subject = subject
        self.queue_group = queue_group
        self.inbox = inbox
        self.line = _ndjson.sub_line(sub_id, subject, queue_group)

    async def unsubscribe(self) -> None:
        await self._unsubscribe(self)

    def __repr__(self) -> str:
        return f"<DevSubscription {self.sub_id} {self.subject!r} group={self.queue_group!r}>"


class ServerErrors:
    """The server's ``err`` lines: a count, the latest, and the recent ones of the
    current connection, numbered, so a request can tell which arrived while it waited."""

    __slots__ = ("_recent", "count", "last")

    def __init__(self, *, keep: int = 64) -> None:
        self._recent: deque[tuple[int, str]] = deque(maxlen=keep)
        self.count = 0
        self.last: str | None = None

    def record(self, message: str) -> int:
        """Note one ``err``; returns how many there have been."""
        self.count += 1
        self.last = message
        self._recent.append((self.count, message))
        return self.count

    def forget_recent(self) -> None:
        """A new connection: earlier errors no longer explain what happens on it."""
        self._recent.clear()

    def latest_recent(self) -> str | None:
        """The latest error of the current connection, if any."""
        return self._recent[-1][1] if self._recent else None

    def since(self, mark: int, needle: str) -> str | None:
        """The first error after number ``mark`` whose message contains ``needle``."""
        return next((m for n, m in self._recent if n > mark and needle in m), None)
