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
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Literal

from . import subjects
from ._calling import MEMBERSHIP, Calling, TaskRequest
from ._decorators import HandlerDecorators
from ._dedup import DEFAULT_DEDUP_WINDOW, SeenWindow
from ._engram_client import EngramRequests
from ._handlers import HandlerRegistry, HandlerSpec, SignalHandler
from ._hosting import Hosting
from ._ids import random_suffix
from ._inbound import Inbound
from ._outbox import Outbox, Role
from ._presence import Presence
from ._stopping import Stopping
from ._subscriptions import Subscriptions
from ._traces import TraceBook
from ._waiters import Deadlines, ParentWaiters, ReplyWaiters
from ._work import OwnedWork
from .axon import Axon, AxonHost
from .builders import discover_signal, final_signal
from .engram import Engram
from .exceptions import DendriteStateError
from .registry import MemoryRegistryStore
from .retry import RetryStrategy
from .signal import Directed, Signal, SignalType
from .synapses.base import Subscription, Synapse

__all__ = ["Dendrite"]

log = logging.getLogger("cosmonapse.dendrite")

_ANSWERS = (SignalType.STOPPED, SignalType.IMPRINTED, SignalType.RECALLED)
_STOP_WAIT_S = 5.0  # stop() waits this long for cancelled work to end
_DEFAULT_TIMEOUT_S = 30.0  # dispatch_and_wait without timeout_s (and without retry)
_DEREGISTER_DEADLINE_S = 1.0  # stop() gives its DEREGISTERs this long, all together


class Dendrite(HandlerDecorators):
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
    """

    def __init__(
        self,
        *,
        synapse: Synapse,
        namespace: str,
        dendrite_id: str | None = None,
        role: Role = "orchestrator",
        heartbeat_s: float = 30.0,
        registry_store: MemoryRegistryStore | None = None,
        max_concurrency: int = 256,
        max_queued: int = 10_000,
        dedup_window: int = DEFAULT_DEDUP_WINDOW,
        discover_timeout_s: float = 0.5,
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
        self.counters: dict[str, int] = {
            "published": 0,
            "received": 0,
            "bad_frames": 0,
            "suppressed": 0,
            "overloaded": 0,
            "handler_errors": 0,
            "duplicates": 0,
        }
        self._traces = traces = TraceBook()
        self._seen = SeenWindow(dedup_window) if dedup_window else None
        self._work = work = OwnedWork(
            traces=traces, max_concurrency=max_concurrency, on_error=self._log_handler_error
        )
        self._handlers = HandlerRegistry()
        replies, answers, deadlines = ReplyWaiters(), ParentWaiters(), Deadlines()
        self._outbox = outbox = Outbox(
            synapse, self.namespace, self.dendrite_id, role, traces, self.counters
        )
        self._inbound = inbound = Inbound(
            self.dendrite_id, self.counters, traces, self._seen, self._handlers, work, max_queued
        )
        self._subs = subs = Subscriptions(outbox, inbound.handler(synapse.plain_handlers))
        self._engram_requests = engrams = EngramRequests(
            outbox, subs, traces, answers, deadlines, self._require_started
        )
        self._hosting = hosting = Hosting(
            outbox,
            work,
            self.counters,
            AxonHost(self.dendrite_id, self.namespace, engrams),
            max_queued,
            lambda: self._state == "started",
        )
        self._presence = Presence(outbox, hosting, work)
        self._stopping = stopping = Stopping(
            outbox, subs, traces, work, replies, answers, hosting.engrams
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
        routes = inbound.routes
        routes[SignalType.TASK] = hosting.on_task
        routes[SignalType.AGENT_OUTPUT] = routes[SignalType.ERROR] = calling.on_reply
        routes[SignalType.FINAL] = self._on_final
        routes[SignalType.STOP] = stopping.on_stop
        routes[SignalType.IMPRINT] = hosting.on_imprint
        routes[SignalType.RECALL] = hosting.on_recall
        routes[SignalType.DISCOVER] = self._presence.on_discover
        for kind in MEMBERSHIP:
            routes[kind] = self._on_membership
        for kind in _ANSWERS:
            routes[kind] = lambda _subject, answer: answers.feed(answer) or True

    def _on_final(self, subject: str, final: Signal) -> bool:
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
            await self._outbox.send(discover_signal())
        if self.heartbeat_s > 0 and (self._hosting.axons or self._hosting.engrams):
            self._presence.start_heartbeats(self.heartbeat_s)

    async def stop(self) -> None:
        """Cancel in-flight work, DEREGISTER, unsubscribe and close hosted Neurons.
        Idempotent; the Synapse stays open."""
        if self._state != "started":
            self._state = "stopped"
            return
        self._state = "stopped"
        await self._work.cancel_all(extra=self._presence.heartbeat_task, timeout_s=_STOP_WAIT_S)
        bus_open = not self.synapse.closed
        if bus_open:
            # Goodbyes are best effort and bounded: a bus that is down (a transport
            # waiting to reconnect) must not hold stop() up.
            try:
                async with asyncio.timeout(_DEREGISTER_DEADLINE_S):
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
    def stats(self) -> dict[str, int]:
        """Counters, plus ``in_flight`` (running or queued deliveries)."""
        return {**self.counters, "in_flight": len(self._work)}

    def _require_started(self) -> None:
        if self._state != "started":
            raise DendriteStateError(
                f"dendrite {self.dendrite_id!r} is not running; use 'async with dendrite:' or "
                "'await dendrite.start()'"
            )

    # -- hosting -------------------------------------------------------------------------

    def attach_axon(self, axon: Axon) -> Axon:
        """Host ``axon``: TASKs addressed to its ``neuron_id`` run here, and so do
        capability-routed TASKs it covers (through the ``caps:`` queue group)."""
        self._hosting.add_axon(axon)
        if self.started:
            self._work.spawn_control(self._after_attach(axon.neuron_id))
        return axon

    def attach_engram(self, engram: Engram) -> Engram:
        """Host ``engram``: IMPRINT and RECALL addressed to its id (or kind) run here,
        FINAL commits its journals, STOP rolls them back or discards them."""
        self._hosting.add_engram(engram)
        if self.started:
            self._work.spawn_control(self._after_attach(engram.engram_id))
        return engram

    async def _after_attach(self, participant_id: str) -> None:
        await self._subscribe_wanted()
        for participant in self._presence.participants():
            if participant.id == participant_id:
                await self._presence.announce(participant)

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
    ) -> Subscription | None:
        """Call ``handler(signal)`` for every Signal of ``signal_type`` in the namespace.

        With a ``queue_group`` the handler gets its own transport subscription in that
        group, so each Signal goes to one member (broker-side balancing) and the returned
        Subscription can be unsubscribed. Without one, the handler shares the Dendrite's
        subscription for that type and None is returned.
        """
        signal_type = SignalType(signal_type)
        spec = HandlerSpec(handler)
        if queue_group is None:
            self._handlers.add(signal_type, spec)
            await self._subs.ensure(signal_type)
            return None
        subjects.validate_queue_group(queue_group)
        if self._state != "started":
            raise DendriteStateError("start the Dendrite before a queue-group subscribe")
        return await self._subs.add_group(signal_type, self._inbound.deliver_to(spec), queue_group)

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

    # -- dispatching ---------------------------------------------------------------------

    async def dispatch_task(
        self,
        *,
        input: Mapping[str, Any],
        neuron: str | None = None,
        capabilities: Iterable[str] | None = None,
        trace_id: str | None = None,
        parent_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        finalize: bool = False,
        context_ref: str | None = None,
    ) -> Signal:
        """Send a TASK to a ``neuron`` id (broadcast; its host runs it) or to one live host
        whose capabilities cover ``capabilities`` (picked from membership, see
        docs/protocol.md section 5). Returns the TASK.

        Raises :class:`~cosmonapse.NoCapableNeuronError` when no live host covers the
        capabilities (after a DISCOVER and up to ``discover_timeout_s``).
        """
        request = TaskRequest(input, neuron, capabilities, parent_id, meta, finalize, context_ref)
        if neuron is None:
            self._require_started()
        return await self._calling.dispatch(request, trace_id)

    async def dispatch_and_wait(
        self,
        *,
        input: Mapping[str, Any],
        neuron: str | None = None,
        capabilities: Iterable[str] | None = None,
        timeout_s: float | None = None,
        trace_id: str | None = None,
        parent_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        finalize: bool = False,
        context_ref: str | None = None,
        retry: RetryStrategy | None = None,
        stop_abandoned: bool = True,
    ) -> Signal:
        """Dispatch a TASK and return its reply: the AGENT_OUTPUT, FINAL or ERROR that
        answers this TASK (with ``finalize=True``: the FINAL or ERROR that ends it).
        Replies are matched to the TASK, so concurrent waits on one trace each get their
        own answer.

        ``timeout_s`` bounds the whole call (default 30 s). With ``retry`` the call
        behaves as :meth:`run_with_retry`: each attempt waits at most
        ``retry.timeout_s``, and ``timeout_s``, when given, still bounds the whole call,
        retries and backoff included.

        A wait that ends without an answer (timeout, or the calling task cancelled, for
        example by ``asyncio.timeout`` or a task group) STOPs that attempt, best effort
        and within about a second, so its Neuron does not run on unseen; pass
        ``stop_abandoned=False`` to leave it running. The STOP is skipped while another
        wait of this Dendrite is pending on the same trace.

        Raises :class:`~cosmonapse.DispatchTimeoutError` (a TimeoutError) when no reply
        came in time, :class:`~cosmonapse.TraceStoppedError` when the trace is (or gets)
        stopped while waiting and :class:`~cosmonapse.NoCapableNeuronError` when no live
        host covers ``capabilities``.
        """
        request = TaskRequest(input, neuron, capabilities, parent_id, meta, finalize, context_ref)
        if retry is not None:
            return await self._calling.retrying(request, retry, trace_id, timeout_s, stop_abandoned)
        return await self._calling.wait_once(
            request,
            trace_id=trace_id,
            timeout_s=_DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
            stop_on_timeout=stop_abandoned,
            stop_on_cancel=stop_abandoned,
        )

    async def run_with_retry(
        self,
        *,
        input: Mapping[str, Any],
        retry: RetryStrategy | None = None,
        neuron: str | None = None,
        capabilities: Iterable[str] | None = None,
        timeout_s: float | None = None,
        trace_id: str | None = None,
        parent_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        finalize: bool = False,
        context_ref: str | None = None,
        stop_abandoned: bool = True,
    ) -> Signal:
        """Dispatch and wait, retrying a stuck (no reply within ``retry.timeout_s``) or
        recoverably failed attempt: the abandoned attempt is STOPped first, then the TASK
        is dispatched again (on a fresh trace by default, with ``meta.attempt``).

        Takes the same options as :meth:`dispatch_and_wait`; ``timeout_s``, when given,
        bounds the whole call (attempts, STOPs and backoff), and each attempt waits at most
        ``retry.timeout_s``.

        Returns the first successful reply, or a non-retryable ERROR. When every attempt
        stalls raises :class:`~cosmonapse.DispatchTimeoutError` (a TimeoutError) after
        about ``max_attempts * retry.timeout_s`` (or at ``timeout_s``); when the last
        attempt failed with a recoverable ERROR, returns that ERROR.
        """
        request = TaskRequest(input, neuron, capabilities, parent_id, meta, finalize, context_ref)
        return await self._calling.retrying(
            request, retry or RetryStrategy(), trace_id, timeout_s, stop_abandoned
        )

    async def _stop_for_caller(
        self, trace_id: str, rollback: bool, reason: str, attempt: int | None
    ) -> None:
        await self.stop_trace(trace_id, rollback=rollback, reason=reason, attempt=attempt)

    # -- stop ------------------------------------------------------------------------------

    async def emit_stop(
        self,
        trace_id: str,
        *,
        rollback: bool = False,
        reason: str | None = None,
        attempt: int | None = None,
    ) -> Signal:
        """Publish a STOP of ``trace_id`` (``attempt``: stop only attempts up to that
        number, so a retry on the same trace can go on). Returns it."""
        stop = self._stopping.build(trace_id, rollback=rollback, reason=reason, attempt=attempt)
        await self._outbox.publish(stop)
        return stop

    async def stop_trace(
        self,
        trace_id: str,
        rollback: bool = False,
        reason: str | None = None,
        collect_acks: bool = False,
        timeout_s: float = 1.0,
        *,
        attempt: int | None = None,
    ) -> list[Signal]:
        """STOP a whole trace everywhere; with ``rollback`` its Engram writes are undone.

        With ``collect_acks`` waits up to ``timeout_s`` for the STOPPED acks and returns
        them, returning early once every Dendrite known to have a stake in the trace (it
        answered on the trace, or a Dendrite that answered names it as a peer) has acked.
        Otherwise returns ``[]`` right after the STOP is published (this Dendrite's own
        work on the trace is cancelled before it returns).
        """
        self._require_started()
        stop = self._stopping.build(trace_id, rollback=rollback, reason=reason, attempt=attempt)
        return await self._stopping.stop_trace(stop, collect_acks=collect_acks, timeout_s=timeout_s)

    # -- engrams ---------------------------------------------------------------------------

    async def engram_request(
        self, signal: Signal, *, deadline_s: float, await_reply: bool
    ) -> Signal | None:
        """Publish an IMPRINT or RECALL and, when ``await_reply``, return its answer.

        Raises :class:`~cosmonapse.EngramTimeoutError` after ``deadline_s``.
        """
        return await self._engram_requests.request(
            signal, deadline_s=deadline_s, await_reply=await_reply
        )

    # -- misc ------------------------------------------------------------------------------

    def _log_handler_error(self, exc: Exception) -> None:
        self.counters["handler_errors"] += 1
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
