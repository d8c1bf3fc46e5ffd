"""An in-process client of a running dev synapse server, as a :class:`~cosmonapse.Synapse`.

The terminal renderer of ``cosmo synapse start`` listens through one of these: it sees
exactly what TCP clients see (same routing, same queue groups) without a socket. Each
subscription has its own bounded inbox and pump task, so the server's fan-out never
waits on an in-process handler, as it never waits on a TCP client.
"""

from __future__ import annotations

import itertools
import logging
from typing import Protocol

from cosmonapse import EnvelopeError, FrameTooLargeError, Subscription, Synapse
from cosmonapse.exceptions import SynapseClosedError
from cosmonapse.subjects import validate_queue_group, validate_subject
from cosmonapse.synapses import DEFAULT_MAX_PENDING, MessageHandler
from cosmonapse.synapses._inbox import Inbox

from .limits import ServerLimits
from .routing import Entry, OutboundFrame

__all__ = ["LocalHost", "LocalSynapse"]

log = logging.getLogger("cosmonapse.devsynapse")


class LocalHost(Protocol):
    """What a :class:`LocalSynapse` needs from its server (a ``DevSynapseServer``)."""

    @property
    def url(self) -> str: ...

    @property
    def limits(self) -> ServerLimits: ...

    def publish_frame(self, subject: str, frame: str) -> int: ...

    def add_subscription(self, entry: Entry) -> None: ...

    def remove_subscription(self, entry: Entry) -> None: ...


class _LocalSubscription(Subscription):
    __slots__ = ("_entry", "_owner", "queue_group", "subject")

    def __init__(self, owner: LocalSynapse, entry: Entry) -> None:
        self._owner = owner
        self._entry = entry
        self.subject = entry.subject
        self.queue_group = entry.queue_group

    async def unsubscribe(self) -> None:
        await self._owner.remove(self._entry)


class LocalSynapse(Synapse):
    """A Synapse wired straight into a dev synapse server (a :class:`LocalHost`) of the
    same event loop.

    Frames must be UTF-8 text (the wire carries them as JSON strings); ``max_frame_bytes``
    is the server's line limit. Closing it ends its subscriptions, not the server.
    """

    def __init__(self, server: LocalHost, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._server = server
        self.url = server.url
        self._limit = server.limits.max_line_bytes
        self.max_frame_bytes = self._limit
        self._max_pending = max_pending
        self._inboxes: dict[Entry, Inbox[bytes]] = {}
        self._ended: list[Inbox[bytes]] = []
        self._ids = itertools.count(1)
        self._closed = False
        self._published = 0
        self._delivered_gone = 0
        self._dropped_gone = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> dict[str, int]:
        inboxes = [*self._inboxes.values(), *self._ended]
        return {
            "published": self._published,
            "delivered": self._delivered_gone + sum(i.delivered for i in inboxes),
            "dropped": self._dropped_gone + sum(i.dropped for i in inboxes),
            "subscriptions": len(self._inboxes),
        }

    async def publish(self, subject: str, data: bytes) -> None:
        if self._closed:
            raise SynapseClosedError("publish on a closed LocalSynapse")
        validate_subject(subject, wildcards=False)
        if len(data) > self._limit:
            raise FrameTooLargeError(len(data), self._limit)
        try:
            frame = bytes(data).decode()
        except UnicodeDecodeError:
            raise EnvelopeError("the dev synapse carries UTF-8 text frames only") from None
        self._published += 1
        self._server.publish_frame(subject, frame)

    async def subscribe(
        self, subject: str, handler: MessageHandler, *, queue_group: str | None = None
    ) -> Subscription:
        if self._closed:
            raise SynapseClosedError("subscribe on a closed LocalSynapse")
        validate_subject(subject)
        if queue_group is not None:
            validate_queue_group(queue_group)
        entry = Entry(self, f"local{next(self._ids)}", subject, queue_group)
        self._inboxes[entry] = Inbox(handler, max_pending=self._max_pending, name=subject)
        self._server.add_subscription(entry)
        return _LocalSubscription(self, entry)

    def deliver(self, entry: Entry, frame: OutboundFrame) -> bool:
        inbox = self._inboxes.get(entry)
        return inbox is not None and inbox.push(frame.subject, frame.data)

    def subscription_ended(self, entry: Entry, reason: str) -> None:
        log.warning("in-process subscription to %s ended: %s", entry.subject, reason)
        inbox = self._inboxes.pop(entry, None)
        if inbox is not None:
            # It still delivers what it holds; its pump is cancelled on close().
            self._ended.append(inbox)

    async def remove(self, entry: Entry) -> None:
        """End the subscription ``entry`` (a no-op when it already ended)."""
        self._server.remove_subscription(entry)
        inbox = self._inboxes.pop(entry, None)
        if inbox is not None:
            self._delivered_gone += inbox.delivered
            self._dropped_gone += inbox.dropped
            await inbox.aclose()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for entry in list(self._inboxes):
            await self.remove(entry)
        ended, self._ended = self._ended, []
        for inbox in ended:
            self._delivered_gone += inbox.delivered
            self._dropped_gone += inbox.dropped
            await inbox.aclose()
