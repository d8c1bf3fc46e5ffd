"""The transport subscriptions of one Dendrite: one per Signal type it needs, the
capability queue group of its Axons, and the queue-group subscriptions of user handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from . import subjects
from ._outbox import Outbox
from .signal import SignalType
from .synapses.base import MessageHandler, ParcelHandler, Subscription

log = logging.getLogger("cosmonapse.dendrite")


class Subscriptions:
    """Subscribes ``frames`` (the Dendrite's inbound handler) to what is asked for; on a
    transport that carries parcels, as a handler that takes them.

    Nothing is subscribed while :attr:`active` is false (before start, after stop); what
    was asked for then is subscribed by the next :meth:`ensure` once active.
    """

    __slots__ = ("_extra", "_frames", "_lock", "_outbox", "_routed", "active", "by_type")

    def __init__(self, outbox: Outbox, frames: ParcelHandler) -> None:
        self._outbox = outbox
        self._frames = frames
        self.by_type: dict[SignalType, Subscription] = {}
        self._extra: list[Subscription] = []
        self._routed: Subscription | None = None
        self._lock = asyncio.Lock()
        self.active = False

    def has(self, types: Iterable[SignalType]) -> bool:
        by_type = self.by_type
        return all(t in by_type for t in types)

    async def ensure(self, *types: SignalType) -> None:
        """Subscribe each of ``types`` not subscribed yet (no-op while inactive)."""
        missing = [t for t in types if t not in self.by_type]
        if not missing or not self.active:
            return
        async with self._lock:
            for signal_type in missing:
                if signal_type in self.by_type:
                    continue
                self.by_type[signal_type] = await self._subscribe(
                    self._outbox.subject(signal_type), self._frames, None
                )

    async def ensure_routed(self, capabilities: Iterable[str]) -> None:
        """Join the queue group of ``capabilities`` on the routed-TASK subject, leaving
        the group of an earlier capability profile (and any group, given none)."""
        caps = sorted(set(capabilities))
        if not self.active or (not caps and self._routed is None):
            return
        group = subjects.capability_group(caps) if caps else None
        async with self._lock:
            current = self._routed
            if current is not None:
                if current.queue_group == group:
                    return
                self._routed = None
                await current.unsubscribe()  # the capability profile changed
            if group is None:
                return
            self._routed = await self._subscribe(
                subjects.routed_task_subject(self._outbox.namespace), self._frames, group
            )

    async def add_group(
        self, signal_type: SignalType, handler: ParcelHandler, queue_group: str
    ) -> Subscription:
        """A subscription of its own for ``handler`` in ``queue_group`` (unsubscribed
        with the others on :meth:`close`)."""
        subjects.validate_queue_group(queue_group)
        sub = await self._subscribe(self._outbox.subject(signal_type), handler, queue_group)
        self._extra.append(sub)
        return sub

    async def _subscribe(
        self, subject: str, handler: ParcelHandler, queue_group: str | None
    ) -> Subscription:
        carrier = self._outbox.carrier
        if carrier is not None:
            return await carrier.subscribe_parcels(subject, handler, queue_group=queue_group)
        frames: MessageHandler = handler  # it takes bytes too
        return await self._outbox.synapse.subscribe(subject, frames, queue_group=queue_group)

    async def close(self, *, unsubscribe: bool) -> None:
        """Forget every subscription (unsubscribing each, when ``unsubscribe``)."""
        self.active = False
        subs = [*self.by_type.values(), *self._extra, *([self._routed] if self._routed else [])]
        self.by_type.clear()
        self._extra.clear()
        self._routed = None
        if not unsubscribe:
            return
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("unsubscribe failed: %s", exc)
