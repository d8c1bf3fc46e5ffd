"""MemorySynapse: the in-process bus, and the default for tests and demos.

Everything stays in one event loop. ``publish`` matches the subject against every
subscription (a :class:`~cosmonapse.synapses.router.SubjectRouter`: one member per queue
group, round-robin) and appends the frame, once per receiving subscription, to one
synapse-wide queue; it never runs a handler. A ``call_soon`` callback drains that queue on
a later turn of the event loop, in publish order across all subscriptions, into each
subscription's inbox (a bounded batch per turn). A handler therefore never runs inside
the sender's ``await publish``, as over a socket (docs/protocol.md section 3).

It is also a :class:`~cosmonapse.synapses.base.ParcelCarrier`: a Dendrite publishes a
snapshot of each Signal (:meth:`MemorySynapse.publish_parcel`) and subscribes with
:meth:`MemorySynapse.subscribe_parcels`, so a Signal crosses the bus without being written
out and parsed back whole; any other subscriber gets the snapshot's frame, written once.
With ``max_frame_bytes`` frames (and parcels' frames) past that size are refused at
publish, as a socket transport refuses them; by default there is no limit.

Delivery is at-most-once: a subscription with ``max_pending`` frames queued or unhandled
loses new ones, counted in ``stats["dropped"]``, and nothing else is slowed down.

``connect_synapse("memory://")`` gives a fresh bus; ``memory://NAME`` gives the bus of
that name in this process (see :class:`NamedBuses`), so code that connects twice by URL
shares one bus. A child made by ``os.fork`` starts with no named buses.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import FrameTooLargeError, SynapseClosedError
from ..subjects import validate_queue_group, validate_subject
from ._inbox import Inbox
from .base import (
    DEFAULT_MAX_PENDING,
    MessageHandler,
    Parcel,
    ParcelCarrier,
    ParcelHandler,
    Subscription,
    Synapse,
)
from .router import Route, SubjectRouter

__all__ = ["BUSES", "MemorySynapse", "NamedBuses", "connect"]

_BATCH = 4096  # frames handed to inboxes per loop turn while the queue drains


class _MemorySubscription(Subscription):
    __slots__ = ("_remove", "dropped", "inbox", "parcels", "queue_group", "queued", "subject")

    def __init__(
        self,
        remove: Callable[[_MemorySubscription], Awaitable[None]],
        subject: str,
        queue_group: str | None,
        inbox: Inbox[Any],
        parcels: bool,
    ) -> None:
        self._remove = remove
        self.subject = subject
        self.queue_group = queue_group
        self.inbox = inbox
        self.parcels = parcels  # the handler takes parcels as they are
        self.queued = 0  # frames in the synapse's queue for this subscription
        self.dropped = 0  # frames refused before they reached the inbox

    async def unsubscribe(self) -> None:
        await self._remove(self)


class MemorySynapse(Synapse, ParcelCarrier):
    """An in-process Synapse.

    ``max_pending`` bounds each subscription's buffer (default 65,536 frames): the frames
    queued for it plus those its inbox holds. ``max_frame_bytes`` (default None: no
    limit) refuses larger frames at publish with
    :class:`~cosmonapse.FrameTooLargeError`.
    """

    plain_handlers = True

    def __init__(
        self,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        name: str | None = None,
        max_frame_bytes: int | None = None,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if max_frame_bytes is not None and max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be at least 1 (or None: no limit)")
        self.url = f"memory://{name}" if name else "memory://"
        self.name = name
        self.max_frame_bytes = max_frame_bytes
        self._max_pending = max_pending
        self._subs: list[_MemorySubscription] = []
        self._router: SubjectRouter[_MemorySubscription] = SubjectRouter()
        # (subscription, subject, frame or parcel, is a parcel) in publish order; bounded
        # by max_pending per subscription, since publish refuses what a full one would get.
        self._queue: deque[tuple[_MemorySubscription, str, bytes | Parcel, bool]] = deque()
        self._scheduled = False
        self._closed = False
        self._published = 0
        self._delivered_gone = 0
        self._dropped_gone = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> dict[str, int]:
        subs = self._subs
        return {
            "published": self._published,
            "delivered": self._delivered_gone + sum(s.inbox.delivered for s in subs),
            "dropped": self._dropped_gone + sum(s.inbox.dropped + s.dropped for s in subs),
            "subscriptions": len(subs),
        }

    async def publish(self, subject: str, data: bytes) -> None:
        """Queue the frame for every receiving subscription; handlers run on a later
        turn of the event loop, never inside this call."""
        route = self._route(subject)
        limit = self.max_frame_bytes
        if limit is not None and len(data) > limit:
            raise FrameTooLargeError(len(data), limit)
        self._enqueue(subject, route, data, False)

    def publish_parcel(self, subject: str, parcel: Parcel) -> None:
        """:meth:`publish` for a parcel: subscriptions made with
        :meth:`subscribe_parcels` get it as it is, the others its frame."""
        route = self._route(subject)
        limit = self.max_frame_bytes
        if limit is not None:
            size = len(parcel.frame())
            if size > limit:
                raise FrameTooLargeError(size, limit)
        self._enqueue(subject, route, parcel, True)

    def _route(self, subject: str) -> Route[_MemorySubscription]:
        if self._closed:
            raise SynapseClosedError("publish on a closed MemorySynapse")
        router = self._router
        route = router.cached_route(subject)
        if route is None:
            validate_subject(subject, wildcards=False)
            route = router.route(subject)
        return route

    def _enqueue(
        self,
        subject: str,
        route: Route[_MemorySubscription],
        data: bytes | Parcel,
        parcel: bool,
    ) -> None:
        self._published += 1
        queue = self._queue
        limit = self._max_pending
        if route.groups:

            def enqueue(sub: _MemorySubscription) -> bool:
                if sub.queued + len(sub.inbox.items) >= limit:
                    sub.dropped += 1
                else:
                    sub.queued += 1
                    queue.append((sub, subject, data, parcel))
                return True  # a full subscription counts the drop; the group's turn is used

            self._router.fan_out(subject, enqueue)
        else:  # no queue group: every subscriber, as above without the router's turn
            for sub in route.plain:
                if sub.queued + len(sub.inbox.items) >= limit:
                    sub.dropped += 1
                else:
                    sub.queued += 1
                    queue.append((sub, subject, data, parcel))
        if queue and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        """Hand queued frames to their inboxes in publish order, a batch per loop turn."""
        self._scheduled = False
        queue = self._queue
        popleft = queue.popleft
        for _ in range(min(len(queue), _BATCH)):
            sub, subject, data, parcel = popleft()
            sub.queued -= 1
            if parcel and not sub.parcels:
                data = data.frame()  # type: ignore[union-attr]  # made once, then kept
            sub.inbox.push(subject, data)  # a closed inbox refuses it
        if queue and not self._closed:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._drain)

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        return self._add(subject, handler, queue_group, parcels=False)

    async def subscribe_parcels(
        self,
        subject: str,
        handler: ParcelHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        return self._add(subject, handler, queue_group, parcels=True)

    def _add(
        self,
        subject: str,
        handler: Callable[[str, Any], Awaitable[None] | None],
        queue_group: str | None,
        *,
        parcels: bool,
    ) -> Subscription:
        if self._closed:
            raise SynapseClosedError("subscribe on a closed MemorySynapse")
        validate_subject(subject)
        if queue_group is not None:
            validate_queue_group(queue_group)
        inbox: Inbox[Any] = Inbox(handler, max_pending=self._max_pending, name=subject)
        sub = _MemorySubscription(self._remove, subject, queue_group, inbox, parcels)
        self._subs.append(sub)
        self._router.add(sub, subject, queue_group)
        return sub

    def _forget(self, sub: _MemorySubscription) -> None:
        self._delivered_gone += sub.inbox.delivered
        self._dropped_gone += sub.inbox.dropped + sub.dropped

    async def _remove(self, sub: _MemorySubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._router.remove(sub)
            await sub.inbox.aclose()  # frames still queued for it are refused by the inbox
            self._forget(sub)
        else:
            await sub.inbox.aclose()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        BUSES.discard(self)
        subs, self._subs = self._subs, []
        self._router.clear()
        self._queue.clear()
        for sub in subs:
            await sub.inbox.aclose()
            self._forget(sub)


class NamedBuses:
    """The process's ``memory://NAME`` buses, by name; a forked child starts empty."""

    __slots__ = ("_buses",)

    def __init__(self) -> None:
        self._buses: dict[str, MemorySynapse] = {}

    def __len__(self) -> int:
        return len(self._buses)

    def get(self, name: str, *, max_pending: int = DEFAULT_MAX_PENDING) -> MemorySynapse:
        """The open bus called ``name``, made on first use (or after it was closed)."""
        synapse = self._buses.get(name)
        if synapse is None or synapse.closed:
            synapse = self._buses[name] = MemorySynapse(name=name, max_pending=max_pending)
        return synapse

    def find(self, name: str) -> MemorySynapse | None:
        """The bus called ``name`` if there is one, without making it."""
        return self._buses.get(name)

    def discard(self, synapse: MemorySynapse) -> None:
        """Forget ``synapse`` if it is the bus registered under its name."""
        name = synapse.name
        if name is not None and self._buses.get(name) is synapse:
            del self._buses[name]

    def clear(self) -> None:
        """Forget every bus (without closing them): what a forked child starts with."""
        self._buses.clear()


BUSES = NamedBuses()
"""The named buses of this process."""

if hasattr(os, "register_at_fork"):  # not on Windows
    # A child must not share the parent's buses: their subscriptions' tasks, loop and
    # handlers belong to the parent.
    os.register_at_fork(after_in_child=BUSES.clear)


async def connect(
    url: str = "memory://", *, max_pending: int = DEFAULT_MAX_PENDING
) -> MemorySynapse:
    """Entry point for the ``memory`` scheme: ``memory://`` is a fresh bus,
    ``memory://NAME`` the process-wide bus of that name (created on first use)."""
    name = urlsplit(url).netloc or None
    if name is None:
        return MemorySynapse(max_pending=max_pending)
    return BUSES.get(name, max_pending=max_pending)
