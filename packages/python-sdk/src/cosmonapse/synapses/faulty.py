"""FaultySynapse: a Synapse wrapper that loses, repeats, delays and reorders deliveries.

Built for tests. Wrap any Synapse and hand the wrapper to a Dendrite (or to several, each
with its own wrapper) to see how your agents behave on a bad network::

    bus = MemorySynapse()
    flaky = FaultySynapse(bus, seed=7, drop=0.05, duplicate=0.1, delay=0.2, reorder=0.1)
    worker = Dendrite(synapse=flaky, namespace="demo", role="worker")

Where the faults happen
    On delivery, per subscription: each frame the inner Synapse hands to one of the
    wrapper's subscriptions goes through its own draw, the way a real network loses or
    repeats a packet on one link and not on the others. ``publish`` passes frames through
    untouched, so a frame one subscriber lost still reaches the rest.

What each fault does (probabilities per delivered frame, each in ``[0, 1]``)
    ``drop``
        the frame is discarded.
    ``duplicate``
        the frame is delivered twice; each copy then meets ``delay`` and ``reorder`` on its
        own, so the copies may arrive apart.
    ``delay``
        the frame is held for a uniform random time in ``(0, max_delay_s]``; frames
        behind it overtake it.
    ``reorder``
        the frame is held until the next frame of the same subscription has been
        delivered, then follows it (so the two swap places). A held frame with no
        successor is released after ``max_delay_s``, so reordering never loses a frame.

Guarantees
    * **Reproducible.** All draws come from :class:`random.Random` generators derived from
      ``seed``: one per subscription, created in subscription order. The same seed, the same
      subscriptions and the same frames on each give the same faults, whatever the
      interleaving between subscriptions.
    * **The Synapse delivery contract still holds**: a subscription's handler is awaited one
      frame at a time, a handler error is logged and delivery goes on.
    * **Bounded.** At most ``max_held`` frames wait (delayed or held for reordering) across
      the wrapper; past that a frame skips the delay/reorder fault and goes straight through
      (counted in ``faults_skipped``). Each subscription's buffer is bounded by
      ``max_pending`` as on every transport.
    * **Owned.** Delayed frames wait on event-loop timers the wrapper owns. ``unsubscribe``
      and :meth:`FaultySynapse.close` cancel them and end every pump task; pending frames
      are discarded, never delivered after close.

``stats`` has the inner Synapse's counters plus ``faults_dropped``, ``faults_duplicated``,
``faults_delayed``, ``faults_reordered``, ``faults_skipped`` and ``faults_held`` (frames
waiting right now). ``close()`` closes the inner Synapse too unless ``close_inner=False``
(when several wrappers share one bus, give each ``close_inner=False`` and close the bus
yourself).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable

from ..exceptions import SynapseClosedError
from ..subjects import subject_matches
from ._inbox import Inbox
from .base import DEFAULT_MAX_PENDING, MessageHandler, Subscription, Synapse

__all__ = ["FaultySynapse"]

log = logging.getLogger("cosmonapse.synapse.faulty")

_Frame = tuple[str, bytes]


class _FaultySubscription(Subscription):
    """One subscription of the wrapper: the inner subscription feeds :meth:`receive`,
    which draws the faults and pushes survivors into an own bounded inbox."""

    def __init__(
        self,
        owner: FaultySynapse,
        subject: str,
        queue_group: str | None,
        inbox: Inbox[bytes],
        rng: random.Random,
    ) -> None:
        self._owner = owner
        self.subject = subject
        self.queue_group = queue_group
        self.inbox = inbox
        self.rng = rng
        self.inner: Subscription | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._reordered: list[_Frame] = []
        self._flush: asyncio.TimerHandle | None = None
        self._closed = False

    async def receive(self, subject: str, data: bytes) -> None:
        """The inner Synapse's handler: never blocks, never raises."""
        if self._closed:
            return
        owner = self._owner
        if not owner._applies(subject):
            self._release((subject, data))
            return
        rng = self.rng
        if rng.random() < owner.drop:
            owner._count["faults_dropped"] += 1
            return
        copies = 1
        if rng.random() < owner.duplicate:
            owner._count["faults_duplicated"] += 1
            copies = 2
        for _ in range(copies):
            # Draw every number each time so one fault's probability does not shift the
            # pattern of the others.
            delayed = rng.random() < owner.delay
            pause = owner.max_delay_s * (1.0 - rng.random())  # in (0, max_delay_s]
            reordered = rng.random() < owner.reorder
            frame = (subject, data)
            if (delayed or reordered) and owner._held >= owner.max_held:
                owner._count["faults_skipped"] += 1
                self._release(frame)
            elif delayed:
                owner._count["faults_delayed"] += 1
                self._hold_for(pause, frame)
            elif reordered:
                owner._count["faults_reordered"] += 1
                self._hold_back(frame)
            else:
                self._release(frame)

    def _release(self, frame: _Frame) -> None:
        """Deliver ``frame`` now, then whatever was held back to follow it."""
        self.inbox.push(*frame)
        if self._reordered:
            self._release_reordered()

    def _release_reordered(self) -> None:
        held, self._reordered = self._reordered, []
        self._owner._held -= len(held)
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        for frame in held:
            self.inbox.push(*frame)

    def _hold_back(self, frame: _Frame) -> None:
        self._reordered.append(frame)
        self._owner._held += 1
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self._owner.max_delay_s, self._release_reordered)

    def _hold_for(self, pause: float, frame: _Frame) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self._owner._held -= 1
            if not self._closed:
                self._release(frame)

        handle = loop.call_later(pause, fire)
        self._timers.add(handle)
        self._owner._held += 1

    @property
    def held(self) -> int:
        return len(self._timers) + len(self._reordered)

    async def unsubscribe(self) -> None:
        await self._owner._remove(self)

    async def _shutdown(self, *, unsubscribe_inner: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner._held -= self.held
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._reordered.clear()
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if unsubscribe_inner and self.inner is not None:
            try:
                await self.inner.unsubscribe()
            except Exception as exc:  # the inner bus may be going away; ours is done
                log.debug("unsubscribing %s from the inner synapse failed: %s", self.subject, exc)
        await self.inbox.aclose()


class FaultySynapse(Synapse):
    """Wrap ``inner`` and inject seeded delivery faults (see the module docstring).

    ``seed`` is required so every run can be replayed. ``subjects`` (patterns, wildcards
    allowed; default: every subject) limits the faults to matching subjects; other frames
    pass through untouched. Raises :class:`ValueError` for a probability outside
    ``[0, 1]``, a ``max_delay_s`` that is not positive, or a ``max_held`` or
    ``max_pending`` below 1.
    """

    def __init__(
        self,
        inner: Synapse,
        *,
        seed: int,
        drop: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        reorder: float = 0.0,
        max_delay_s: float = 0.05,
        max_held: int = 10_000,
        max_pending: int = DEFAULT_MAX_PENDING,
        subjects: str | Iterable[str] | None = None,
        close_inner: bool = True,
    ) -> None:
        for name, p in (
            ("drop", drop),
            ("duplicate", duplicate),
            ("delay", delay),
            ("reorder", reorder),
        ):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
        if not max_delay_s > 0:
            raise ValueError(f"max_delay_s must be positive, got {max_delay_s!r}")
        if max_held < 1 or max_pending < 1:
            raise ValueError("max_held and max_pending must be at least 1")
        self.inner = inner
        self.url = inner.url
        self.max_frame_bytes = inner.max_frame_bytes
        self.seed = seed
        self.drop = drop
        self.duplicate = duplicate
        self.delay = delay
        self.reorder = reorder
        self.max_delay_s = max_delay_s
        self.max_held = max_held
        self.max_pending = max_pending
        patterns = [subjects] if isinstance(subjects, str) else subjects
        self.subjects: tuple[str, ...] | None = tuple(patterns) if patterns is not None else None
        self.close_inner = close_inner
        self._rng = random.Random(seed)
        self._subs: list[_FaultySubscription] = []
        self._held = 0
        self._closed = False
        self._count: dict[str, int] = dict.fromkeys(
            (
                "faults_dropped",
                "faults_duplicated",
                "faults_delayed",
                "faults_reordered",
                "faults_skipped",
            ),
            0,
        )

    @property
    def closed(self) -> bool:
        return self._closed or self.inner.closed

    @property
    def stats(self) -> dict[str, int]:
        """The inner Synapse's counters plus the ``faults_*`` counters."""
        return {**self.inner.stats, **self._count, "faults_held": self._held}

    def _applies(self, subject: str) -> bool:
        patterns = self.subjects
        return patterns is None or any(subject_matches(p, subject) for p in patterns)

    async def publish(self, subject: str, data: bytes) -> None:
        """Pass ``data`` to the inner Synapse unchanged (faults happen on delivery)."""
        if self._closed:
            raise SynapseClosedError("publish on a closed FaultySynapse")
        await self.inner.publish(subject, data)

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        """Subscribe on the inner Synapse; matching frames meet the faults, then
        ``handler``. Validation and errors are the inner Synapse's."""
        if self._closed:
            raise SynapseClosedError("subscribe on a closed FaultySynapse")
        rng = random.Random(self._rng.getrandbits(64))
        inbox = Inbox(handler, max_pending=self.max_pending, name=subject)
        sub = _FaultySubscription(self, subject, queue_group, inbox, rng)
        try:
            sub.inner = await self.inner.subscribe(subject, sub.receive, queue_group=queue_group)
        except BaseException:
            await inbox.aclose()
            raise
        self._subs.append(sub)
        return sub

    async def _remove(self, sub: _FaultySubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        await sub._shutdown(unsubscribe_inner=not self.inner.closed)

    async def close(self) -> None:
        """Cancel every delayed frame and pump, unsubscribe, and close the inner Synapse
        (unless ``close_inner=False``). Idempotent."""
        if self._closed:
            return
        self._closed = True
        subs, self._subs = self._subs, []
        inner_open = not self.inner.closed
        for sub in subs:
            await sub._shutdown(unsubscribe_inner=inner_open and not self.close_inner)
        if self.close_inner:
            await self.inner.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<FaultySynapse over {self.inner!r} seed={self.seed} {state}>"
