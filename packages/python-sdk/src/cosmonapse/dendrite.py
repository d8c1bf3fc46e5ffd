"""The Dendrite: a participant on the bus.

A Dendrite hosts Axons and Engrams, subscribes, publishes, dispatches TASKs and waits
for their answers, and carries out STOPs. Guarantees (docs/protocol.md section 5):

* The transport's read loop never runs user code: each TASK runs in its own task, at
  most ``max_concurrency`` at once; other handlers run in their own tasks too. At most
  ``max_queued`` deliveries wait at any time; past that a TASK is answered with a
  recoverable ERROR ``OVERLOADED`` and other deliveries are dropped (counted, logged).
* STOP cancels every running and queued Neuron run of the trace, drops its queued TASKs,
  suppresses late replies, rolls back or discards hosted Engrams' journals and answers
  one STOPPED when this Dendrite had a stake. Idempotent.
* Only orchestrators send TASK and STOP.

The class is the public face; each concern it delegates to has a module of its own
(docs/architecture.md lists them and follows a TASK through them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Literal

from . import subjects
from ._call_methods import CallMethods
from ._calling import MEMBERSHIP, Calling
from ._decorators import HandlerDecorators
from ._dedup import DEFAULT_DEDUP_WINDOW, SeenWindow
from ._delegation import Delegation
from ._engram_client import EngramRequests
from ._handlers import HandlerRegistry, HandlerSpec, SignalHandler
from ._hosting import Hosting
from ._ids import random_suffix
from ._inbound import Inbound
from ._interest import Interest
from ._outbox import Outbox, Role
from ._presence import Presence
from ._stopping import Stopping
from ._subscriptions import Subscriptions
from ._traces import TraceBook
from ._waiters import Deadlines, ParentWaiters, ReplyWaiters
from ._work import OwnedWork
from .attachments import Attachment, HandlerSubscription
from .axon import Axon, AxonHost
from .budget import DEFAULT_BUDGET, TraceBudget
from .builders import discover_signal, final_signal
from .engram import Engram
from .exceptions import DendriteStateError
from .registry import RegistryStore
from .signal import Directed, Signal, SignalType
from .synapses.base import Synapse

__all__ = ["Dendrite"]

log = logging.getLogger("cosmonapse.dendrite")

_ANSWERS = (SignalType.STOPPED, SignalType.IMPRINTED, SignalType.RECALLED)
_STOP_TIMEOUT_S = 5.0  # stop() waits this long for cancelled work to end
_DEREGISTER_SHARE = 0.2  # of stop()'s timeout, for the DEREGISTERs (all together)


class Dendrite(CallMethods, HandlerDecorators):
    """A participant on ``namespace`` of ``synapse``.

    ``role`` is ``"orchestrator"`` (the default: may dispatch TASKs and STOP traces) or
    ``"worker"``. ``heartbeat_s`` is the HEARTBEAT period of hosted participants (0
    disables heartbeats; REGISTER and DEREGISTER are still sent). With a
    ``registry_store`` the Dendrite keeps it current from REGISTER / DEREGISTER /
    HEARTBEAT and asks peers to announce themselves when it starts.

    Use ``async with dendrite:`` or ``await start()`` / ``await stop()``. ``stop()``
    cancels this Dendrite's in-flight work and leaves the Synapse open (close it
    yourself).

    ``dedup_window`` (default 10,000; 0 disables) is how many recent ``(subject, id)``
    pairs the Dendrite remembers: a Signal redelivered on the same subject within that
    window is handled once, and the copies are counted in ``counters["duplicates"]``.

    ``discover_timeout_s`` (default 0.5 s) is how long a capability-routed dispatch waits
    for a covering host to answer its DISCOVER when live membership knows none.

    ``budget`` (default ``TraceBudget()``: depth 8, 256 TASKs, no token bound) bounds the
    tree of TASKs of each trace this Dendrite starts, and of the traces its Neurons
    delegate in when their root set none (docs/protocol.md section 6).
    """

    def __init__(
        self,
        *,
        synapse: Synapse,
        namespace: str,
        dendrite_id: str | None = None,
        role: Role = "orchestrator",
        heartbeat_s: float = 30.0,
        registry_store: RegistryStore | None = None,
        max_concurrency: int = 256,
        max_queued: int = 10_000,
        dedup_window: int = DEFAULT_DEDUP_WINDOW,
        discover_timeout_s: float = 0.5,
        budget: TraceBudget | None = None,
    ) -> None:
        if role not in ("orchestrator", "worker"):
            raise ValueError(f"role must be 'orchestrator' or 'worker', got {role!r}")
        if heartbeat_s < 0:
            raise ValueError("heartbeat_s must be >= 0 (0 disables heartbeats)")
        if max_concurrency < 1 or max_queued < 1:
            raise ValueError("max_concurrency and max_queued must be at least 1")
        if dedup_window < 0:
            raise ValueError("dedup_window must be >= 0 (0 disables duplicate detection)")
        if discover_timeout_s < 0:
            raise ValueError("discover_timeout_s must be >= 0")
        self.synapse = synapse
        self.namespace = subjects.validate_namespace(namespace)
        self.dendrite_id = dendrite_id or f"dendrite-{random_suffix()}"
        self.role: Role = role
        self.heartbeat_s = heartbeat_s
        self.registry_store = registry_store
        self.max_concurrency = max_concurrency
        self.max_queued = max_queued
        self.discover_timeout_s = discover_timeout_s
        self._state: Literal["new", "started", "stopped"] = "new"
        self._counters: dict[str, int] = {
            "published": 0,
            "received": 0,
            "bad_frames": 0,
            "suppressed": 0,
            "overloaded": 0,
            "handler_errors": 0,
            "duplicates": 0,
            "skipped": 0,
        }
        self._traces = traces = TraceBook()
        self._seen = SeenWindow(dedup_window) if dedup_window else None
        self._work = work = OwnedWork(
            traces=traces, max_concurrency=max_concurrency, on_error=self._log_handler_error
        )
        self._handlers = HandlerRegistry()
        replies, answers, deadlines = ReplyWaiters(), ParentWaiters(), Deadlines()
        self._outbox = outbox = Outbox(
            synapse, self.namespace, self.dendrite_id, role, traces, self._counters
        )
        self._inbound = inbound = Inbound(
            self.dendrite_id, self._counters, traces, self._seen, self._handlers, work, max_queued
        )
        self._subs = subs = Subscriptions(outbox, inbound.handler(synapse.plain_handlers))
        self._engram_requests = engrams = EngramRequests(
            outbox, subs, traces, answers, deadlines, self._require_started
        )
        hosted_engrams: dict[str, Engram] = {}
        self._stopping = stopping = Stopping(
            outbox, subs, traces, work, replies, answers, hosted_engrams
        )
        self._calling = calling = Calling(
            outbox,
            subs,
            traces,
            work,
            replies,
            deadlines,
            discover_timeout_s,
            self._stop_for_caller,
            self._require_started,
        )
        self._delegation = delegation = Delegation(
            calling, outbox, traces, stopping, work, budget or DEFAULT_BUDGET
        )
        self._hosting = hosting = Hosting(
            outbox,
            work,
            self._counters,
            AxonHost(self.dendrite_id, self.namespace, engrams, delegation),
            max_queued,
            lambda: self._state == "started",
            hosted_engrams,
        )
        self._presence = Presence(outbox, hosting, work)
        interest = Interest(hosting, replies, self._handlers, delegation)
        skips = inbound.skips
        skips[outbox.subject(SignalType.TASK)] = interest.skip_task
        for kind in (SignalType.AGENT_OUTPUT, SignalType.ERROR):
            skips[outbox.subject(kind)] = interest.reply_skipper(kind)
        routes = inbound.routes
        routes[SignalType.TASK] = self._on_task
        routes[SignalType.AGENT_OUTPUT] = routes[SignalType.ERROR] = self._on_reply
        routes[SignalType.FINAL] = self._on_final
        routes[SignalType.STOP] = stopping.on_stop
        routes[SignalType.IMPRINT] = hosting.on_imprint
        routes[SignalType.RECALL] = hosting.on_recall
        routes[SignalType.DISCOVER] = self._presence.on_discover
        for kind in MEMBERSHIP:
            routes[kind] = self._on_membership
        for kind in _ANSWERS:
            routes[kind] = lambda _subject, answer: answers.feed(answer) or True

    def _on_task(self, subject: str, task: Signal) -> bool:
        self._delegation.heard_task(task)
        return self._hosting.on_task(subject, task)

    def _on_reply(self, subject: str, reply: Signal) -> bool:
        self._delegation.heard_reply(reply)
        return self._calling.on_reply(subject, reply)

    def _on_final(self, subject: str, final: Signal) -> bool:
        self._delegation.heard_reply(final)
        self._calling.on_reply(subject, final)
        self._hosting.commit(final.trace_id)
        return True

    def _on_membership(self, subject: str, signal: Signal) -> bool:
        self._calling.on_membership(subject, signal)
        if self.registry_store is not None:
            self.registry_store.observe(signal)
        return True

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe, announce hosted participants and start heartbeats. Idempotent."""
        if self._state == "started":
            return
        if self._state == "stopped":
            raise DendriteStateError(f"dendrite {self.dendrite_id!r} was stopped; make a new one")
        self._state = "started"
        self._subs.active = True
        await self._subscribe_wanted()
        await self._presence.announce_all()
        if self.registry_store is not None:
            await self._outbox.send(discover_signal(node=self.dendrite_id))
        if self.heartbeat_s > 0 and (self._hosting.axons or self._hosting.engrams):
            self._presence.start_heartbeats(self.heartbeat_s)

    async def stop(self, *, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Cancel in-flight work, DEREGISTER, unsubscribe and close hosted Neurons.
        Idempotent; the Synapse stays open.

        ``timeout_s`` (default 5 s) bounds the wait for cancelled work to end; the
        DEREGISTERs then get a fifth of it (at most 1 s), so a bus that is down cannot
        hold stop() up. Work that ignores cancellation past it is logged and left.
        """
        if timeout_s < 0:
            raise ValueError("timeout_s must be >= 0")
        if self._state != "started":
            self._state = "stopped"
            return
        self._state = "stopped"
        await self._work.cancel_all(extra=self._presence.heartbeat_task, timeout_s=timeout_s)
        bus_open = not self.synapse.closed
        if bus_open:
            # Goodbyes are best effort and bounded: a bus that is down (a transport
            # waiting to reconnect) must not hold stop() up.
            try:
                async with asyncio.timeout(min(1.0, timeout_s * _DEREGISTER_SHARE)):
                    await self._presence.deregister_all()
            except Exception as exc:  # the bus may already be gone
                log.debug("dendrite %s: DEREGISTER not sent: %r", self.dendrite_id, exc)
        await self._subs.close(unsubscribe=bus_open)
        await self._hosting.close_axons()

    async def __aenter__(self) -> Dendrite:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def started(self) -> bool:
        return self._state == "started"

    @property
    def counters(self) -> Mapping[str, int]:
        """A read-only view of the counters: ``published``, ``received``, ``bad_frames``,
        ``suppressed`` (replies on a stopped trace, dropped), ``overloaded``,
        ``handler_errors``, ``duplicates`` and ``skipped`` (TASKs and replies for other
        participants of the namespace, passed over undecoded)."""
        return MappingProxyType(self._counters)

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters, plus ``in_flight`` (running or queued deliveries)."""
        return {**self._counters, "in_flight": len(self._work)}

    def _require_started(self) -> None:
        if self._state != "started":
            raise DendriteStateError(
                f"dendrite {self.dendrite_id!r} is not running; use 'async with dendrite:' or "
                "'await dendrite.start()'"
            )

    # -- hosting -------------------------------------------------------------------------

    def attach_axon(self, axon: Axon) -> Attachment[Axon]:
        """Host ``axon``: TASKs addressed to its ``neuron_id`` run here, and so do
        capability-routed TASKs it covers (through the ``caps:`` queue group).

        Returns an :class:`~cosmonapse.Attachment`. Before ``start()`` nothing more is
        needed; on a running Dendrite the subscriptions and REGISTER are made in the
        background, and ``await dendrite.attach_axon(axon)`` waits for them (raising what
        failed). ``await attachment.detach()`` stops hosting it.
        """
        self._hosting.add_axon(axon)
        return Attachment(
            axon, self._settle_attach(axon.neuron_id), lambda: self._detach(axon.neuron_id)
        )

    def attach_engram(self, engram: Engram) -> Attachment[Engram]:
        """Host ``engram``: IMPRINT and RECALL addressed to its id (or kind) run here,
        FINAL commits its journals, STOP rolls them back or discards them. Returns an
        :class:`~cosmonapse.Attachment`, as :meth:`attach_axon` does."""
        self._hosting.add_engram(engram)
        return Attachment(
            engram, self._settle_attach(engram.engram_id), lambda: self._detach(engram.engram_id)
        )

    def _settle_attach(self, participant_id: str) -> asyncio.Future[None] | None:
        """On a running Dendrite: subscribe and announce ``participant_id`` in the
        background; the future is done when that is (failures are also logged)."""
        if not self.started:
            return None
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ready.add_done_callback(_retrieved)
        self._work.spawn_control(self._attach_now(participant_id, ready))
        return ready

    async def _attach_now(self, participant_id: str, ready: asyncio.Future[None]) -> None:
        try:
            await self._subscribe_wanted()
            for participant in self._presence.participants():
                if participant.id == participant_id:
                    await self._presence.announce(participant)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(
                    exc
                    if isinstance(exc, Exception)
                    else DendriteStateError(
                        f"dendrite {self.dendrite_id!r} stopped before {participant_id!r} "
                        "was subscribed and announced"
                    )
                )
            raise
        if not ready.done():
            ready.set_result(None)

    async def _detach(self, participant_id: str) -> None:
        if not self._hosting.remove(participant_id):
            return
        if self.started:
            await self._subs.ensure_routed(self._hosting.capabilities())
            await self._presence.deregister(participant_id, reason="detached")

    # -- subscribing ---------------------------------------------------------------------

    async def _subscribe_wanted(self) -> None:
        wanted = self._handlers.types() | {SignalType.STOP} | self._hosting.wanted_types()
        if self.registry_store is not None or self._calling.hosts is not None:
            wanted |= set(MEMBERSHIP)
        await self._subs.ensure(*wanted)
        await self._subs.ensure_routed(self._hosting.capabilities())

    async def subscribe(
        self,
        signal_type: SignalType | str,
        handler: SignalHandler,
        *,
        queue_group: str | None = None,
    ) -> HandlerSubscription:
        """Call ``handler(signal)`` for every Signal of ``signal_type`` in the namespace;
        returns once the subscription exists, with a handle whose ``unsubscribe()`` stops
        the calls.

        Without a ``queue_group`` the handler shares the Dendrite's subscription for that
        type (on a Dendrite not started yet it is subscribed by ``start()``). With one the
        handler gets its own transport subscription in that group, so each Signal goes to
        one member (broker-side balancing); that needs a running Dendrite.
        """
        signal_type = SignalType(signal_type)
        spec = HandlerSpec(handler)
        subject = self._outbox.subject(signal_type)
        if queue_group is None:
            handlers = self._handlers
            handlers.add(signal_type, spec)
            try:
                await self._subs.ensure(signal_type)
            except BaseException:
                handlers.remove(signal_type, spec)
                raise

            async def remove() -> None:
                handlers.remove(signal_type, spec)

            return HandlerSubscription(subject, None, remove)
        subjects.validate_queue_group(queue_group)
        if self._state != "started":
            raise DendriteStateError("start the Dendrite before a queue-group subscribe")
        sub = await self._subs.add_group(signal_type, self._inbound.deliver_to(spec), queue_group)
        return HandlerSubscription(subject, queue_group, sub.unsubscribe, sub)

    def _add_handler(self, spec: HandlerSpec, signal_type: SignalType) -> None:
        self._handlers.add(signal_type, spec)
        if self.started:
            self._work.spawn_control(self._subs.ensure(signal_type))

    # -- publishing ----------------------------------------------------------------------

    async def publish(self, signal: Signal) -> None:
        """Publish ``signal`` on its subject in this namespace.

        Raises :class:`~cosmonapse.RoleError` when a worker sends TASK or STOP. A reply
        on a trace this Dendrite has stopped is dropped, never published.
        """
        await self._outbox.publish(signal)

    async def emit(
        self,
        signal_type: SignalType | str,
        payload: Mapping[str, Any] | None = None,
        *,
        trace_id: str | None = None,
        parent_id: str | None = None,
        directed: Directed | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Signal:
        """Build a Signal of any type and publish it; returns it."""
        extra: dict[str, Any] = {"trace_id": trace_id} if trace_id else {}
        signal = Signal(
            type=SignalType(signal_type),
            payload=dict(payload or {}),
            parent_id=parent_id,
            directed=directed,
            meta=dict(meta or {}),
            **extra,
        )
        await self._outbox.publish(signal)
        return signal

    async def emit_final(
        self,
        *,
        trace_id: str,
        result: Mapping[str, Any],
        parent_id: str | None = None,
        cost: Mapping[str, Any] | None = None,
    ) -> Signal:
        """Publish the FINAL that ends ``trace_id``; it commits every Engram journal of the
        trace (its writes can no longer be rolled back)."""
        signal = final_signal(
            trace_id=trace_id,
            parent_id=parent_id,
            result=result,
            cost=cost,
            producer=self.dendrite_id,
        )
        await self._outbox.publish(signal)
        return signal

    async def _stop_for_caller(
        self, trace_id: str, rollback: bool, reason: str, attempt: int | None
    ) -> None:
        await self.stop_trace(trace_id, rollback=rollback, reason=reason, attempt=attempt)

    # -- misc ------------------------------------------------------------------------------

    def _log_handler_error(self, exc: Exception) -> None:
        self._counters["handler_errors"] += 1
        log.error(
            "handler on dendrite %s raised %s: %s",
            self.dendrite_id,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )

    def __repr__(self) -> str:
        return (
            f"<Dendrite {self.dendrite_id!r} ns={self.namespace!r} role={self.role} "
            f"{self._state} axons={list(self._hosting.axons)} "
            f"engrams={list(self._hosting.engrams)}>"
        )


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a failed attach as seen (it was logged), so asyncio does not warn about it."""
    if not future.cancelled():
        future.exception()
