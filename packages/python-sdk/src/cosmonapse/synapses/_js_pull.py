"""Pulling one durable consumer with pull requests kept outstanding
(docs/transports/nats.md, "Durable work").

Instead of one fetch per batch (a pull request, often an empty "no messages" answer, then
another request), a :class:`Puller` keeps up to ``free()`` messages requested from the
server: each request asks for a batch and lingers for ``expires`` seconds, so a TASK
stored while it is open is pushed to this host at once. A new request goes out when the
room left is worth one (or nothing is requested at all). The server answers an expired or
cut-short request with a status message that says how many it did not deliver; a request
that gets no word within twice ``expires`` (server restart, lost connection) is
considered gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["Puller"]

_EXPIRES_S = 2.0
_WORTH = 32  # a new request asks for at least this many (or all the room, when less)


class Puller:
    """Feeds ``take(msg)`` the messages of consumer ``consumer`` of ``stream``, never
    more requested than ``free()`` (this host's room). ``take`` runs on the inbox's
    delivery task, one message at a time, in the order the server sent them."""

    def __init__(
        self,
        client: Client,
        api_prefix: str,
        stream: str,
        consumer: str,
        free: Callable[[], int],
        take: Callable[[Msg], Awaitable[None]],
    ) -> None:
        self._client = client
        self._next = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._free = free
        self._take = take
        self._sub: Subscription | None = None
        self._inbox = ""
        self._outstanding = 0  # requested and neither delivered nor given up by the server
        self._heard = 0.0  # loop time of the last word on the inbox
        self.wake = asyncio.Event()  # set on every delivery, status and freed room
        self.lost = False  # the server dropped the consumer: re-create it

    async def open(self) -> None:
        if self._sub is None:
            self._inbox = self._client.new_inbox()
            self._sub = await self._client.subscribe(self._inbox, cb=self._on_msg)

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def step(self) -> None:
        """Request more if there is room worth a request, then wait for news (a delivery,
        a status, freed room) for at most ``expires``."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._outstanding and now - self._heard > 2 * _EXPIRES_S:
            self._outstanding = 0  # no word for too long: the request is gone
        want = self._free() - self._outstanding
        if want > 0 and (self._outstanding == 0 or want >= _WORTH):
            request = {"batch": want, "expires": int(_EXPIRES_S * 1e9)}
            self._outstanding += want
            self._heard = now
            await self._client.publish(self._next, orjson.dumps(request), reply=self._inbox)
        self.wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), _EXPIRES_S)

    async def _on_msg(self, msg: Msg) -> None:
        self._heard = asyncio.get_running_loop().time()
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is not None and not msg.data:
            if status in ("408", "409"):  # expired, or cut short: how many it won't send
                pending = headers.get("Nats-Pending-Messages")
                if pending is not None and pending.isdigit():
                    self._outstanding = max(0, self._outstanding - int(pending))
                else:
                    self._outstanding = 0
                    self.lost = "consumer" in headers.get("Description", "").lower()
            elif status == "404":
                self._outstanding = 0
            self.wake.set()
            return
        self._outstanding = max(0, self._outstanding - 1)
        try:
            await self._take(msg)
        finally:
            self.wake.set()
