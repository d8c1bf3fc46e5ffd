"""MemorySynapse: the in-process bus, and the default for tests and demos.

Everything stays in one event loop: ``publish`` matches the subject against every
subscription (a :class:`~cosmonapse.synapses.router.SubjectRouter`) and pushes the
frame into each matching subscription's bounded inbox (one member per queue group,
chosen round-robin). Delivery is at-most-once: a
subscription that falls more than ``max_pending`` frames behind loses new ones, counted
in ``stats["dropped"]``, and nothing else is slowed down.

``connect_synapse("memory://")`` gives a fresh bus; ``memory://NAME`` gives the bus of
that name in this process, so code that connects twice by URL shares one bus.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..exceptions import SynapseClosedError
from ..subjects import validate_queue_group, validate_subject
from ._inbox import Inbox
from .base import DEFAULT_MAX_PENDING, MessageHandler, Subscription, Synapse
from .router import SubjectRouter

__all__ = ["MemorySynapse", "connect"]

_named: dict[str, MemorySynapse] = {}


class _MemorySubscription(Subscription):
    __slots__ = ("_synapse", "inbox", "queue_group", "subject")

    def __init__(
        self, synapse: MemorySynapse, subject: str, queue_group: str | None, inbox: Inbox
    ) -> None:
        self._synapse = synapse
        self.subject = subject
        self.queue_group = queue_group
        self.inbox = inbox

    async def unsubscribe(self) -> None:
        await self._synapse._remove(self)


class MemorySynapse(Synapse):
    """An in-process Synapse.

    ``max_pending`` bounds each subscription's buffer (default 65,536 frames).
    """

    plain_handlers = True

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING, name: str | None = None) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.url = f"memory://{name}" if name else "memory://"
        self._name = name
        self._max_pending = max_pending
        self._subs: list[_MemorySubscription] = []
        self._router: SubjectRouter[_MemorySubscription] = SubjectRouter()
        self._closed = False
        self._published = 0
        self._dropped_closed = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> dict[str, int]:
        return {
            "published": self._published,
            "delivered": sum(s.inbox.delivered for s in self._subs),
            "dropped": sum(s.inbox.dropped for s in self._subs) + self._dropped_closed,
            "subscriptions": len(self._subs),
        }

    async def publish(self, subject: str, data: bytes) -> None:
        if self._closed:
            raise SynapseClosedError("publish on a closed MemorySynapse")
        if self._router.cached_route(subject) is None:
            validate_subject(subject, wildcards=False)
        self._published += 1

        def deliver(sub: _MemorySubscription) -> bool:
            sub.inbox.push(subject, data)
            return True  # a full inbox counts the drop; the group's turn is used

        self._router.fan_out(subject, deliver)

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        if self._closed:
            raise SynapseClosedError("subscribe on a closed MemorySynapse")
        validate_subject(subject)
        if queue_group is not None:
            validate_queue_group(queue_group)
        inbox = Inbox(handler, max_pending=self._max_pending, name=subject)
        sub = _MemorySubscription(self, subject, queue_group, inbox)
        self._subs.append(sub)
        self._router.add(sub, subject, queue_group)
        return sub

    async def _remove(self, sub: _MemorySubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._router.remove(sub)
            self._dropped_closed += sub.inbox.dropped
        await sub.inbox.aclose()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._name is not None and _named.get(self._name) is self:
            del _named[self._name]
        subs, self._subs = self._subs, []
        self._router.clear()
        for sub in subs:
            await sub.inbox.aclose()


async def connect(
    url: str = "memory://", *, max_pending: int = DEFAULT_MAX_PENDING
) -> MemorySynapse:
    """Entry point for the ``memory`` scheme: ``memory://`` is a fresh bus,
    ``memory://NAME`` the process-wide bus of that name (created on first use)."""
    name = urlsplit(url).netloc or None
    if name is None:
        return MemorySynapse(max_pending=max_pending)
    synapse = _named.get(name)
    if synapse is None or synapse.closed:
        synapse = MemorySynapse(name=name, max_pending=max_pending)
        _named[name] = synapse
    return synapse
