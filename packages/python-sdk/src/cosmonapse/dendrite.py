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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal

from . import subjects
from ._dedup import DEFAULT_DEDUP_WINDOW, SeenWindow
from ._engram_host import answer_imprint, answer_recall, recall_targets
from ._handlers import HandlerSpec, SignalHandler
from ._host_picker import Host, HostPicker
from ._ids import random_suffix
from ._traces import TraceBook, attempt_of
from ._waiters import Deadlines, ParentWaiters, ReplyWaiters
from ._work import OwnedWork
from .axon import Axon
from .builders import (
    deregister_signal,
    discover_signal,
    error_signal,
    final_signal,
    heartbeat_signal,
    register_signal,
    stop_signal,
    stopped_signal,
    task_signal,
)
from .engram import Engram
from .exceptions import (
    DendriteStateError,
    DispatchTimeoutError,
    EngramTimeoutError,
    EnvelopeError,
    NoCapableNeuronError,
    RoleError,
    TraceStoppedError,
)
from .registry import MemoryRegistryStore
from .retry import RetryStrategy, run_with_retry
from .signal import Directed, Signal, SignalType
from .synapses.base import MessageHandler, Subscription, Synapse

__all__ = ["Dendrite"]

log = logging.getLogger("cosmonapse.dendrite")

Role = Literal["orchestrator", "worker"]

_ROLE_GATED = frozenset({SignalType.TASK, SignalType.STOP})
_REPLIES = frozenset({SignalType.AGENT_OUTPUT, SignalType.FINAL, SignalType.ERROR})
# Signals of a stopped trace that are neither sent nor delivered.
_SUPPRESSED = frozenset(
    {
        SignalType.TASK,
        SignalType.AGENT_OUTPUT,
        SignalType.FINAL,
        SignalType.ERROR,
        SignalType.IMPRINT,
    }
)
_MEMBERSHIP = (SignalType.REGISTER, SignalType.DEREGISTER, SignalType.HEARTBEAT)
_STOP_WAIT_S = 5.0  # stop() waits this long for cancelled work to end
_DEFAULT_TIMEOUT_S = 30.0  # dispatch_and_wait without timeout_s (and without retry)
_ABANDON_DEADLINE_S = 1.0  # the STOP of an abandoned wait gets this long to go out
_DEREGISTER_DEADLINE_S = 1.0  # stop() gives its DEREGISTERs this long, all together
_ANSWERS = frozenset({SignalType.STOPPED, SignalType.IMPRINTED, SignalType.RECALLED})


class Dendrite:
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
        self._hosts: HostPicker | None = None  # made on the first capability-routed dispatch
        self._hosts_lock = asyncio.Lock()
        self._seen = SeenWindow(dedup_window) if dedup_window else None

        self._axons: dict[str, Axon] = {}
        self._engrams: dict[str, Engram] = {}
        self._handlers: dict[SignalType, list[HandlerSpec]] = {}
        self._subs: dict[SignalType, Subscription] = {}
        self._extra_subs: list[Subscription] = []
        self._routed_sub: Subscription | None = None
        self._sub_lock = asyncio.Lock()
        self._deadlines = Deadlines()
        self._reply_subs_missing = True
        self._traces = TraceBook()
        self._work = OwnedWork(
            traces=self._traces, max_concurrency=max_concurrency, on_error=self._log_handler_error
        )
        self._replies = ReplyWaiters()
        self._answers = ParentWaiters()
        self._heartbeat: asyncio.Task[None] | None = None
        self._state: Literal["new", "started", "stopped"] = "new"
        self._subject_cache: dict[SignalType, str] = {}
        self.counters: dict[str, int] = {
            "published": 0,
            "received": 0,
            "bad_frames": 0,
            "suppressed": 0,
            "overloaded": 0,
            "handler_errors": 0,
            "duplicates": 0,
        }

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe, announce hosted participants and start heartbeats. Idempotent."""
        if self._state == "started":
            return
        if self._state == "stopped":
            raise DendriteStateError(f"dendrite {self.dendrite_id!r} was stopped; make a new one")
        self._state = "started"
        await self._ensure(*self._wanted_types())
        await self._ensure_routed()
        for participant in self._participants():
            await self._announce(participant)
        if self.registry_store is not None:
            await self._send(Signal(type=SignalType.DISCOVER, payload={}))
        if self.heartbeat_s > 0 and (self._axons or self._engrams):
            self._heartbeat = asyncio.get_running_loop().create_task(
                self._heartbeat_loop(), name=f"cosmonapse-heartbeat:{self.dendrite_id}"
            )

    async def stop(self) -> None:
        """Cancel in-flight work, DEREGISTER, unsubscribe and close hosted Neurons.
        Idempotent; the Synapse stays open."""
        if self._state != "started":
            self._state = "stopped"
            return
        self._state = "stopped"
        await self._work.cancel_all(extra=self._heartbeat, timeout_s=_STOP_WAIT_S)
        if not self.synapse.closed:
            # Goodbyes are best effort and bounded: a bus that is down (a transport
            # waiting to reconnect) must not hold stop() up.
            try:
                async with asyncio.timeout(_DEREGISTER_DEADLINE_S):
                    for participant in self._participants():
                        await self._send(
                            deregister_signal(
                                participant=participant[0], reason="stopped", node=self.dendrite_id
                            )
                        )
            except Exception as exc:  # the bus may already be gone
                log.debug("dendrite %s: DEREGISTER not sent: %r", self.dendrite_id, exc)
            for sub in [
                *self._subs.values(),
                *self._extra_subs,
                *([self._routed_sub] if self._routed_sub else []),
            ]:
                try:
                    await sub.unsubscribe()
                except Exception as exc:
                    log.debug("unsubscribe failed: %s", exc)
        self._subs.clear()
        self._reply_subs_missing = True
        self._extra_subs.clear()
        self._routed_sub = None
        for axon in self._axons.values():
            try:
                await axon.aclose()
            except Exception as exc:
                log.warning("closing neuron %s failed: %s", axon.neuron_id, exc)

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

    # -- hosting -------------------------------------------------------------------------

    def attach_axon(self, axon: Axon) -> Axon:
        """Host ``axon``: TASKs addressed to its ``neuron_id`` run here, and so do
        capability-routed TASKs it covers (through the ``caps:`` queue group)."""
        if axon.neuron_id in self._axons:
            raise ValueError(f"an Axon {axon.neuron_id!r} is already attached")
        self._axons[axon.neuron_id] = axon
        axon._bind_host(self, self.dendrite_id, self.namespace)
        if self.started:
            self._work.spawn_control(
                self._after_attach((axon.neuron_id, "neuron", axon.capabilities, axon.version))
            )
        return axon

    def attach_engram(self, engram: Engram) -> Engram:
        """Host ``engram``: IMPRINT and RECALL addressed to its id (or kind) run here,
        FINAL commits its journals, STOP rolls them back or discards them."""
        if engram.engram_id in self._engrams:
            raise ValueError(f"an Engram {engram.engram_id!r} is already attached")
        self._engrams[engram.engram_id] = engram
        if self.started:
            self._work.spawn_control(self._after_attach((engram.engram_id, "engram", [], None)))
        return engram

    def _participants(self) -> list[tuple[str, str, list[str], str | None]]:
        found = [(a.neuron_id, "neuron", a.capabilities, a.version) for a in self._axons.values()]
        found += [(e.engram_id, "engram", [], None) for e in self._engrams.values()]
        return found

    async def _after_attach(self, participant: tuple[str, str, list[str], str | None]) -> None:
        await self._ensure(*self._wanted_types())
        await self._ensure_routed()
        await self._announce(participant)

    async def _announce(
        self, participant: tuple[str, str, list[str], str | None], parent: Signal | None = None
    ) -> None:
        ident, role, caps, version = participant
        extra: dict[str, Any] = {}
        if parent is not None:
            extra = {"trace_id": parent.trace_id, "parent_id": parent.id}
        signal = register_signal(
            participant=ident,
            role=role,
            capabilities=caps,
            version=version,
            node=self.dendrite_id,
            **extra,
        )
        if role == "engram":
            engram = self._engrams[ident]
            assert signal.directed is not None
            signal.directed.type = engram.engram_kind
        await self._send(signal)

    # -- subscribing ---------------------------------------------------------------------

    def _wanted_types(self) -> set[SignalType]:
        wanted = set(self._handlers) | {SignalType.STOP}
        if self._axons:
            wanted |= {SignalType.TASK, SignalType.DISCOVER}
        if self._engrams:
            wanted |= {SignalType.IMPRINT, SignalType.RECALL, SignalType.FINAL, SignalType.DISCOVER}
        if self.registry_store is not None or self._hosts is not None:
            wanted |= set(_MEMBERSHIP)
        return wanted

    async def _ensure(self, *types: SignalType) -> None:
        missing = [t for t in types if t not in self._subs]
        if not missing or self._state != "started":
            return
        async with self._sub_lock:
            for signal_type in missing:
                if signal_type in self._subs:
                    continue
                self._subs[signal_type] = await self.synapse.subscribe(
                    self._subject(signal_type), self._frame_handler()
                )

    async def _ensure_routed(self) -> None:
        caps = sorted({c for a in self._axons.values() for c in a.capabilities})
        if not caps or self._state != "started":
            return
        group = subjects.capability_group(caps)
        async with self._sub_lock:
            current = self._routed_sub
            if current is not None:
                if current.queue_group == group:
                    return
                await current.unsubscribe()  # the capability profile changed
            self._routed_sub = await self.synapse.subscribe(
                subjects.routed_task_subject(self.namespace),
                self._frame_handler(),
                queue_group=group,
            )

    def _subject(self, signal_type: SignalType) -> str:
        subject = self._subject_cache.get(signal_type)
        if subject is None:
            subject = subjects.signal_subject(self.namespace, signal_type.value)
            self._subject_cache[signal_type] = subject
        return subject

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
        if queue_group is None:
            self._add_handler(signal_type, HandlerSpec(handler))
            await self._ensure(signal_type)
            return None
        subjects.validate_queue_group(queue_group)
        if self._state != "started":
            raise DendriteStateError("start the Dendrite before a queue-group subscribe")
        spec = HandlerSpec(handler)

        async def deliver(subject: str, data: bytes) -> None:
            signal = self._decode(data)
            if signal is not None and not (
                signal.type in _SUPPRESSED and self._traces.is_stopped(signal)
            ):
                self._run_handler(spec, signal)

        sub = await self.synapse.subscribe(
            self._subject(signal_type), deliver, queue_group=queue_group
        )
        self._extra_subs.append(sub)
        return sub

    def _add_handler(self, signal_type: SignalType, spec: HandlerSpec) -> None:
        self._handlers.setdefault(signal_type, []).append(spec)

    # -- decorators ----------------------------------------------------------------------

    def on_signal(
        self,
        signal_type: SignalType | str,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Callable[[SignalHandler], SignalHandler]:
        """Decorator: run the handler for Signals of ``signal_type`` passing the filters."""
        kind = SignalType(signal_type)

        def register(fn: SignalHandler) -> SignalHandler:
            self._add_handler(kind, HandlerSpec(fn, neuron, capability, trace_id))
            if self.started:
                self._work.spawn_control(self._ensure(kind))
            return fn

        return register

    def on_agent_output(
        self,
        fn: SignalHandler | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Any:
        """Decorator (bare or with ``neuron=``, ``capability=``, ``trace_id=``) for
        AGENT_OUTPUT."""
        return self._decorate(SignalType.AGENT_OUTPUT, fn, neuron, capability, trace_id)

    def on_final(
        self,
        fn: SignalHandler | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Any:
        """Decorator (bare or with filters) for FINAL."""
        return self._decorate(SignalType.FINAL, fn, neuron, capability, trace_id)

    def on_error_signal(
        self,
        fn: SignalHandler | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Any:
        """Decorator (bare or with filters) for ERROR."""
        return self._decorate(SignalType.ERROR, fn, neuron, capability, trace_id)

    def _decorate(
        self,
        kind: SignalType,
        fn: SignalHandler | None,
        neuron: str | None,
        capability: str | None,
        trace_id: str | None,
    ) -> Any:
        register = self.on_signal(kind, neuron=neuron, capability=capability, trace_id=trace_id)
        return register if fn is None else register(fn)

    # -- publishing ----------------------------------------------------------------------

    async def publish(self, signal: Signal) -> None:
        """Publish ``signal`` on its subject in this namespace.

        Raises :class:`~cosmonapse.RoleError` when a worker sends TASK or STOP. A reply
        on a trace this Dendrite has stopped is dropped, never published.
        """
        kind = signal.type
        if kind in _ROLE_GATED and self.role != "orchestrator":
            raise RoleError(
                f"dendrite {self.dendrite_id!r} has role 'worker'; only orchestrators send "
                f"{kind.value} (create it with role='orchestrator')"
            )
        if kind in _SUPPRESSED and self._traces.stopped_traces and self._traces.is_stopped(signal):
            self.counters["suppressed"] += 1
            log.debug("not publishing %s on stopped trace %s", kind.value, signal.trace_id)
            return
        await self.synapse.publish(self._subject_of(signal), signal.encode())
        self.counters["published"] += 1

    async def _send(self, signal: Signal) -> None:
        """Publish without the role and stopped-trace checks (acks, announcements)."""
        await self.synapse.publish(self._subject_of(signal), signal.encode())
        self.counters["published"] += 1

    def _subject_of(self, signal: Signal) -> str:
        directed = signal.directed
        if (
            signal.type is SignalType.TASK
            and directed is not None
            and directed.id is None
            and directed.capabilities
        ):
            return subjects.routed_task_subject(self.namespace)
        subject = self._subject_cache.get(signal.type)
        return subject if subject is not None else self._subject(signal.type)

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
        await self.publish(signal)
        return signal

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
        task = self._new_task(
            input, neuron, capabilities, trace_id, parent_id, meta, finalize, context_ref
        )
        if neuron is None:
            await self._route(task, self.discover_timeout_s)
        await self.publish(task)
        return task

    def _new_task(
        self,
        input: Mapping[str, Any],
        neuron: str | None,
        capabilities: Iterable[str] | None,
        trace_id: str | None,
        parent_id: str | None,
        meta: Mapping[str, Any] | None,
        finalize: bool,
        context_ref: str | None,
    ) -> Signal:
        caps = list(capabilities or [])
        if neuron is None and not caps:
            raise ValueError("dispatch needs neuron= or capabilities=")
        task = task_signal(
            input=input,
            neuron=neuron,
            capabilities=caps,
            trace_id=trace_id,
            parent_id=parent_id,
            meta=meta,
            finalize=finalize,
            context_ref=context_ref,
        )
        task.meta.setdefault("node", self.dendrite_id)  # who sent it, for observers
        return task

    async def _route(self, task: Signal, wait_s: float) -> tuple[Host, float]:
        """Address a capability TASK to the host that will run it. Returns the host and
        the seconds spent waiting for a DISCOVER to be answered (0 when membership
        already knew a covering host).

        Raises NoCapableNeuronError (after publishing the ERROR) when none covers it."""
        directed = task.directed
        assert directed is not None
        caps = directed.capabilities
        hosts = self._hosts
        if hosts is None:
            async with self._hosts_lock:  # concurrent first dispatches wait for one setup
                hosts = self._hosts
                if hosts is None:
                    self._require_started()
                    await self._ensure(*_MEMBERSHIP)
                    hosts = self._hosts = HostPicker()
        picked = hosts.pick(caps)
        waited = 0.0
        if picked is None:
            loop = asyncio.get_running_loop()
            began = loop.time()
            picked = await hosts.discover(
                caps,
                send_discover=lambda: self._send(discover_signal(capabilities=caps)),
                timeout_s=min(self.discover_timeout_s, wait_s),
            )
            waited = loop.time() - began
        if picked is None:
            wanted = ", ".join(caps)
            message = (
                f"no live neuron covers the capabilities [{wanted}] in namespace {self.namespace!r}"
            )
            try:
                await self.publish(
                    error_signal(
                        trace_id=task.trace_id,
                        parent_id=task.id,
                        code=NoCapableNeuronError.code,
                        message=message,
                        producer=self.dendrite_id,
                        meta={"node": self.dendrite_id, "capabilities": list(caps)},
                    )
                )
            except Exception as exc:  # the exception below is what matters to the caller
                log.debug("ERROR %s not published: %r", NoCapableNeuronError.code, exc)
            raise NoCapableNeuronError(message, capabilities=list(caps), trace_id=task.trace_id)
        directed.id = picked.neuron_id
        if picked.node is not None:
            task.meta["host"] = picked.node  # replicas of the neuron id: only this one runs it
        return picked, waited

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
        if retry is not None:
            return await run_with_retry(
                self,
                retry=retry,
                input=input,
                neuron=neuron,
                capabilities=list(capabilities) if capabilities is not None else None,
                trace_id=trace_id,
                parent_id=parent_id,
                meta=meta,
                finalize=finalize,
                context_ref=context_ref,
                timeout_s=timeout_s,
                stop_abandoned=stop_abandoned,
            )
        return await self._dispatch_and_wait_once(
            input=input,
            neuron=neuron,
            capabilities=capabilities,
            timeout_s=_DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
            trace_id=trace_id,
            parent_id=parent_id,
            meta=meta,
            finalize=finalize,
            context_ref=context_ref,
            stop_on_timeout=stop_abandoned,
            stop_on_cancel=stop_abandoned,
        )

    async def _dispatch_and_wait_once(
        self,
        *,
        input: Mapping[str, Any],
        neuron: str | None,
        capabilities: Iterable[str] | None,
        timeout_s: float,
        trace_id: str | None,
        parent_id: str | None,
        meta: Mapping[str, Any] | None,
        finalize: bool,
        context_ref: str | None,
        stop_on_timeout: bool,
        stop_on_cancel: bool,
    ) -> Signal:
        """One attempt, without retry (what :func:`run_with_retry` repeats)."""
        if self._state != "started":
            self._require_started()
        if self._reply_subs_missing:
            await self._ensure(*_REPLIES)
            self._reply_subs_missing = any(t not in self._subs for t in _REPLIES)
        task = self._new_task(
            input, neuron, capabilities, trace_id, parent_id, meta, finalize, context_ref
        )
        trace = task.trace_id
        traces = self._traces
        if traces.stopped_traces and traces.is_stopped(task):  # fail now, not at timeout
            raise TraceStoppedError(f"trace {trace} was stopped; nothing was dispatched")
        routed_to: Host | None = None
        if neuron is None:
            routed_to, waited = await self._route(task, timeout_s)
            timeout_s = max(timeout_s - waited, 0.0)  # the DISCOVER's wait counts too
        fut = self._replies.add(task, want_final=finalize)
        try:
            await self.publish(task)
            self._deadlines.watch(fut, timeout_s)
            return await fut
        except TimeoutError:
            if stop_on_timeout:
                self._abandon(task)
            target = neuron or ",".join(task.directed.capabilities if task.directed else [])
            raise DispatchTimeoutError(
                f"no reply from {target!r} within {timeout_s:g} s (trace {trace})"
            ) from None
        except asyncio.CancelledError:
            if stop_on_cancel and (fut.cancelled() or not fut.done()):  # no answer came
                self._abandon(task)
            raise
        finally:
            if not fut.done():
                fut.cancel()
            self._replies.discard(task.id)
            if routed_to is not None and self._hosts is not None:
                answered = fut.done() and not fut.cancelled() and fut.exception() is None
                self._hosts.finished(routed_to, answered=answered)

    def _abandon(self, task: Signal) -> None:
        """STOP the attempt of a wait that ended unanswered, in the background (the
        caller may be being cancelled), unless another wait shares its trace."""
        if self._state != "started" or self._replies.others_on_trace(task.id, task.trace_id):
            return
        attempt = task.meta.get("attempt")
        self._work.spawn_control(
            self._stop_abandoned(task.trace_id, attempt if type(attempt) is int else None)
        )

    async def _stop_abandoned(self, trace_id: str, attempt: int | None) -> None:
        async with asyncio.timeout(_ABANDON_DEADLINE_S):
            await self.stop_trace(
                trace_id, reason="the caller stopped waiting for its reply", attempt=attempt
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
        return await run_with_retry(
            self,
            retry=retry or RetryStrategy(),
            input=input,
            neuron=neuron,
            capabilities=list(capabilities) if capabilities is not None else None,
            trace_id=trace_id,
            parent_id=parent_id,
            meta=meta,
            finalize=finalize,
            context_ref=context_ref,
            timeout_s=timeout_s,
            stop_abandoned=stop_abandoned,
        )

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
        await self.publish(signal)
        return signal

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
        stop = self._build_stop(trace_id, rollback, reason, attempt)
        await self.publish(stop)
        return stop

    def _build_stop(
        self, trace_id: str, rollback: bool, reason: str | None, attempt: int | None
    ) -> Signal:
        stop = stop_signal(
            trace_id=trace_id, rollback=rollback, reason=reason, producer=self.dendrite_id
        )
        if attempt is not None:
            stop.meta["attempt"] = attempt
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
        if self.role != "orchestrator":  # refuse before touching any local state
            raise RoleError(
                f"dendrite {self.dendrite_id!r} has role 'worker'; only orchestrators send "
                "STOP (create it with role='orchestrator')"
            )
        stop = self._build_stop(trace_id, rollback, reason, attempt)
        if not collect_acks:
            self._apply_stop_locally(stop)
            await self.publish(stop)
            return []
        await self._ensure(SignalType.STOPPED)
        expected = self._traces.peers(trace_id) - {self.dendrite_id}
        acks, arrived = self._answers.collect(stop.id)
        try:
            self._apply_stop_locally(stop)
            await self.publish(stop)
            deadline = time.monotonic() + timeout_s
            while True:
                acked = {a.payload.get("node") for a in acks}
                for ack in acks:
                    peers = ack.meta.get("peers")
                    if isinstance(peers, list):
                        expected |= {p for p in peers if isinstance(p, str)}
                expected.discard(self.dendrite_id)
                if expected and expected <= acked:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), left)
                except TimeoutError:
                    break
            return list(acks)
        finally:
            self._answers.forget(stop.id)

    def _apply_stop_locally(self, stop: Signal) -> None:
        """The issuer's side of a STOP, before it is published: from here on late replies
        are dropped, and a ``dispatch_and_wait`` still waiting on the trace ends with
        TraceStoppedError. (Local work is cancelled when the STOP comes back.)"""
        bound = stop.meta.get("attempt")
        self._traces.mark_stopped(stop.trace_id, bound if isinstance(bound, int) else None)
        trace_id = stop.trace_id
        self._replies.fail_trace(
            trace_id, lambda: TraceStoppedError(f"trace {trace_id} was stopped")
        )

    def _on_stop(self, stop: Signal) -> None:
        # Everything but the ack happens before the next frame is looked at, so a TASK
        # published after a STOP on the same connection never races it.
        trace_id = stop.trace_id
        bound = stop.meta.get("attempt")
        had_stake = self._traces.has_stake(trace_id) or any(
            e.has_stake(trace_id) for e in self._engrams.values()
        )
        self._traces.mark_stopped(trace_id, bound if isinstance(bound, int) else None)
        cancelled = self._traces.cancel(trace_id)
        rollback = bool(stop.payload.get("rollback", False))
        compensated = 0
        for engram in self._engrams.values():
            if rollback:
                compensated += engram.rollback(trace_id)
            else:
                engram.discard(trace_id)
        peers = sorted(self._traces.peers(trace_id) - {self.dendrite_id})
        self._traces.release(trace_id)
        if not had_stake:
            return
        if cancelled or compensated:
            log.info(
                "STOP %s: cancelled %d, compensated %d (%s)",
                trace_id,
                cancelled,
                compensated,
                stop.payload.get("reason") or "no reason given",
            )
        ack = stopped_signal(
            stop,
            node=self.dendrite_id,
            rolled_back=rollback,
            cancelled=cancelled,
            compensated=compensated,
        )
        if peers:
            ack.meta["peers"] = peers
        self._work.spawn_control(self._send(ack))

    # -- receiving -------------------------------------------------------------------------

    def _decode(self, data: bytes) -> Signal | None:
        try:
            return Signal.decode(data)
        except EnvelopeError as exc:
            self.counters["bad_frames"] += 1
            if self.counters["bad_frames"] % 1000 == 1:
                log.warning(
                    "dendrite %s: dropped an invalid Signal (%s); dropped so far: %d",
                    self.dendrite_id,
                    exc,
                    self.counters["bad_frames"],
                )
            return None

    def _accept(self, subject: str, data: bytes) -> Signal | None:
        """Decode a frame; None for an invalid one, a redelivery, or a reply on a trace
        this Dendrite has stopped (each counted)."""
        signal = self._decode(data)
        if signal is None:
            return None
        counters = self.counters
        seen = self._seen
        if seen is not None and not seen.first_sight((subject, signal.id)):
            counters["duplicates"] += 1  # a redelivery: handled once already
            return None
        counters["received"] += 1
        traces = self._traces
        if traces.stopped_traces and signal.type in _SUPPRESSED and traces.is_stopped(signal):
            counters["suppressed"] += 1
            return None
        return signal

    def _on_frame_now(self, subject: str, data: bytes) -> None:
        """Handle one frame without waiting: sends and user handlers are spawned as
        tasks, so frames are handled in the order they arrive, whatever their type."""
        signal = self._accept(subject, data)
        if signal is not None:
            self._handle_now(subject, signal)

    async def _on_frame(self, subject: str, data: bytes) -> None:
        """The coroutine handler, for transports that take no plain handlers."""
        self._on_frame_now(subject, data)

    def _handle_now(self, subject: str, signal: Signal) -> None:
        kind = signal.type
        if kind is SignalType.TASK:
            routed = subject.endswith(".routed")
            self._on_task(signal, routed=routed)
            if routed:
                return  # user TASK handlers hear the broadcast subject only
        elif kind in _REPLIES:
            node = signal.meta.get("node")
            if type(node) is str:
                self._traces.stake(signal.trace_id, node)
            self._replies.resolve(signal)
            if kind is SignalType.FINAL:
                for engram in self._engrams.values():
                    engram.commit(signal.trace_id)
        elif kind in _ANSWERS:
            self._answers.feed(signal)
        elif kind is SignalType.STOP:
            self._on_stop(signal)
        elif kind is SignalType.IMPRINT:
            self._on_imprint(signal)
        elif kind is SignalType.RECALL:
            self._on_recall(signal)
        elif kind in _MEMBERSHIP:
            if self._hosts is not None:
                self._hosts.observe(signal)
            if self.registry_store is not None:
                self.registry_store.observe(signal)
        elif kind is SignalType.DISCOVER:
            self._on_discover(signal)
        self._run_handlers(signal)

    def _run_handlers(self, signal: Signal) -> None:
        specs = self._handlers.get(signal.type)
        if specs:
            for spec in specs:
                if spec.accepts(signal):
                    self._run_handler(spec, signal)

    def _frame_handler(self) -> MessageHandler:
        return self._on_frame_now if self.synapse.plain_handlers else self._on_frame

    def _on_task(self, task: Signal, *, routed: bool) -> None:
        directed = task.directed
        axon: Axon | None = None
        if directed is not None and directed.id is not None:
            axon = self._axons.get(directed.id)
            host = task.meta.get("host")
            if axon is not None and type(host) is str and host != self.dendrite_id:
                return  # routed to a replica of this neuron id on another Dendrite
        elif routed and directed is not None:
            for candidate in self._axons.values():
                if candidate.covers(directed.capabilities):
                    axon = candidate
                    break
            if axon is None:
                log.debug(
                    "routed TASK %s needs %s; nothing here covers it",
                    task.id,
                    directed.capabilities,
                )
        if axon is None:
            return
        if len(self._work) >= self.max_queued:
            self.counters["overloaded"] += 1
            log.warning(
                "dendrite %s is overloaded (%d queued); refusing TASK %s",
                self.dendrite_id,
                len(self._work),
                task.id,
            )
            self._work.spawn_control(
                self.publish(
                    error_signal(
                        trace_id=task.trace_id,
                        parent_id=task.id,
                        code="OVERLOADED",
                        message=(
                            f"dendrite {self.dendrite_id!r} has {self.max_queued} deliveries queued"
                        ),
                        recoverable=True,
                        producer=axon.neuron_id,
                        meta={"node": self.dendrite_id, "attempt": attempt_of(task)},
                    )
                )
            )
            return
        self._work.start(self._run_axon(axon, task), task.trace_id)

    async def _run_axon(self, axon: Axon, task: Signal) -> None:
        slots = self._work.slots
        if not slots.try_acquire():
            await slots.acquire()
        try:  # a STOP of the trace cancels this task, waiting for a slot or running
            reply = await axon.handle_task(task)
        except Exception as exc:  # handle_task turns Neuron failures into ERRORs
            self._log_handler_error(exc)
            return
        finally:
            slots.release()
        if self._state != "started":  # the Neuron outlived stop() (it ignored cancellation)
            log.debug("dendrite %s stopped: dropping the reply to %s", self.dendrite_id, task.id)
            return
        try:
            await self.publish(reply)
            if task.payload.get("finalize") and reply.type is SignalType.AGENT_OUTPUT:
                await self.publish(
                    final_signal(
                        trace_id=task.trace_id,
                        parent_id=reply.id,
                        result=reply.payload["output"],
                        producer=axon.neuron_id,
                        # the TASK this FINAL closes, for a caller waiting on it
                        meta={"node": self.dendrite_id, "task": task.id, **_attempt_meta(task)},
                    )
                )
        except Exception as exc:
            self._log_handler_error(exc)

    def _run_handler(self, spec: HandlerSpec, signal: Signal) -> None:
        if len(self._work) >= self.max_queued:
            self.counters["overloaded"] += 1
            log.warning(
                "dendrite %s is overloaded; dropping a %s delivery",
                self.dendrite_id,
                signal.type.value,
            )
            return
        if signal.type is SignalType.TASK:
            self._work.spawn(self._work.bounded(spec.fn(signal)), signal.trace_id)
        else:
            self._work.spawn(spec.fn(signal), None)

    def _log_handler_error(self, exc: Exception) -> None:
        self.counters["handler_errors"] += 1
        log.error(
            "handler on dendrite %s raised %s: %s",
            self.dendrite_id,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )

    # -- engrams ---------------------------------------------------------------------------

    async def engram_request(
        self, signal: Signal, *, deadline_s: float, await_reply: bool
    ) -> Signal | None:
        """Publish an IMPRINT or RECALL and, when ``await_reply``, return its answer.

        Raises :class:`~cosmonapse.EngramTimeoutError` after ``deadline_s``.
        """
        self._require_started()
        answer_type = (
            SignalType.IMPRINTED if signal.type is SignalType.IMPRINT else SignalType.RECALLED
        )
        self._traces.stake(signal.trace_id)
        if not await_reply:
            await self.publish(signal)
            return None
        await self._ensure(answer_type)
        fut = self._answers.expect(signal.id)
        try:
            await self.publish(signal)
            self._deadlines.watch(fut, deadline_s)
            reply = await fut
        except TimeoutError:
            target = signal.neuron or (signal.directed.type if signal.directed else None)
            raise EngramTimeoutError(
                f"{signal.type.value} to engram {target!r} got no {answer_type.value} within "
                f"{deadline_s * 1000:.0f} ms (is an Engram with that id attached to a running "
                "Dendrite?)"
            ) from None
        finally:
            if not fut.done():
                fut.cancel()
            self._answers.forget(signal.id)
        node = reply.meta.get("node")
        if isinstance(node, str):
            self._traces.stake(signal.trace_id, node)
        return reply

    def _on_imprint(self, imprint: Signal) -> None:
        engram = self._engrams.get(imprint.neuron or "")
        if engram is not None:  # applied now, in arrival order; only the answer waits
            self._work.spawn_control(self._send(answer_imprint(engram, imprint, self.dendrite_id)))

    def _on_recall(self, recall: Signal) -> None:
        targets = recall_targets(self._engrams, recall)
        if targets:
            self._work.spawn_control(
                self._send_all(answer_recall(targets, recall, self.dendrite_id))
            )

    async def _send_all(self, signals: list[Signal]) -> None:
        for signal in signals:
            await self._send(signal)

    def _on_discover(self, discover: Signal) -> None:
        wanted = discover.payload.get("capabilities")
        participants = [
            p
            for p in self._participants()
            if not (isinstance(wanted, list) and not set(wanted).issubset(p[2]))
        ]
        if participants:
            self._work.spawn_control(self._announce_all(participants, discover))

    async def _announce_all(
        self, participants: list[tuple[str, str, list[str], str | None]], parent: Signal
    ) -> None:
        for participant in participants:
            await self._announce(participant, parent=parent)

    # -- heartbeats ------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            in_flight = len(self._work)
            for ident, _role, _caps, _version in self._participants():
                try:
                    await self._send(
                        heartbeat_signal(
                            participant=ident, in_flight=in_flight, node=self.dendrite_id
                        )
                    )
                except Exception as exc:  # keep beating through a transport hiccup
                    log.warning("heartbeat of %s failed: %s", ident, exc)

    # -- misc ------------------------------------------------------------------------------

    def _require_started(self) -> None:
        if self._state != "started":
            raise DendriteStateError(
                f"dendrite {self.dendrite_id!r} is not running; use 'async with dendrite:' or "
                "'await dendrite.start()'"
            )

    def __repr__(self) -> str:
        return (
            f"<Dendrite {self.dendrite_id!r} ns={self.namespace!r} role={self.role} "
            f"{self._state} axons={list(self._axons)} engrams={list(self._engrams)}>"
        )


def _attempt_meta(task: Signal) -> dict[str, Any]:
    attempt = task.meta.get("attempt")
    return {"attempt": attempt} if attempt is not None else {}
