"""The caller side of a Dendrite: build a TASK, address it, publish it and wait for the
reply that answers it (docs/protocol.md section 5; docs/architecture.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ._host_picker import Host, HostPicker
from ._id_forms import is_event_id, is_trace_id
from ._outbox import Outbox
from ._subscriptions import Subscriptions
from ._traces import TraceBook
from ._waiters import Deadlines, ReplyWaiters
from ._work import OwnedWork
from .builders import discover_signal, error_signal, task_signal
from .exceptions import (
    DispatchTimeoutError,
    EnvelopeError,
    NoCapableNeuronError,
    TraceStoppedError,
)
from .retry import Abandon, RetryStrategy, run_with_retry
from .signal import Signal, SignalType

log = logging.getLogger("cosmonapse.dendrite")

REPLIES = frozenset({SignalType.AGENT_OUTPUT, SignalType.FINAL, SignalType.ERROR})
MEMBERSHIP = (SignalType.REGISTER, SignalType.DEREGISTER, SignalType.HEARTBEAT)
ABANDON_DEADLINE_S = 1.0  # the STOP of an abandoned wait gets this long to go out


@dataclass(slots=True)
class TaskRequest:
    """What a TASK asks, apart from its trace: the options every dispatch takes."""

    input: Mapping[str, Any]
    neuron: str | None = None
    capabilities: Iterable[str] | None = None
    parent_id: str | None = None
    meta: Mapping[str, Any] | None = None
    finalize: bool = False
    context_ref: str | None = None

    @property
    def target(self) -> str:
        """Who the TASK is for, for error messages."""
        return self.neuron or ",".join(self.capabilities or ())


def check_task_parts(
    neuron: object, capabilities: list[Any], trace_id: object, parent_id: object
) -> None:
    """Refuse, with :class:`~cosmonapse.EnvelopeError` naming the field, the parts of a
    TASK that would make it a Signal no receiver takes: a TASK built from parts that
    pass is well formed (so it need not be checked again before it is sent)."""
    if neuron is not None and type(neuron) is not str:
        raise EnvelopeError(
            f"neuron must be a string (a Neuron id), got {type(neuron).__name__} {neuron!r:.60}",
            field="directed.id",
        )
    for capability in capabilities:
        if type(capability) is not str:
            raise EnvelopeError(
                f"capabilities must be strings, got {capability!r:.60}",
                field="directed.capabilities",
            )
    if trace_id is not None and not is_trace_id(trace_id):
        raise EnvelopeError(
            "trace_id must be 'trc_' followed by a 26-character ULID (new_trace_id() makes "
            f"one), got {trace_id!r:.60}",
            field="trace_id",
        )
    if parent_id is not None and not is_event_id(parent_id):
        raise EnvelopeError(
            f"parent_id must be a Signal id ('evt_' followed by a 26-character ULID), got "
            f"{parent_id!r:.60}",
            field="parent_id",
        )


class Calling:
    """Dispatches TASKs for one Dendrite and matches replies to the waits on them."""

    __slots__ = (
        "_deadlines",
        "_discover_timeout_s",
        "_hosts_lock",
        "_outbox",
        "_replies",
        "_reply_subs_missing",
        "_require_running",
        "_stop_trace",
        "_subs",
        "_traces",
        "_work",
        "hosts",
    )

    def __init__(
        self,
        outbox: Outbox,
        subs: Subscriptions,
        traces: TraceBook,
        work: OwnedWork,
        replies: ReplyWaiters,
        deadlines: Deadlines,
        discover_timeout_s: float,
        stop_trace: Abandon,
        require_running: Callable[[], None],
    ) -> None:
        self._outbox = outbox
        self._subs = subs
        self._traces = traces
        self._work = work
        self._replies = replies
        self._deadlines = deadlines
        self._discover_timeout_s = discover_timeout_s
        self._stop_trace = stop_trace
        self._require_running = require_running
        self._reply_subs_missing = True
        self._hosts_lock = asyncio.Lock()
        self.hosts: HostPicker | None = None  # made on the first capability-routed dispatch

    # -- building and addressing -----------------------------------------------------------

    def new_task(self, request: TaskRequest, trace_id: str | None) -> Signal:
        """The TASK for ``request`` (``meta.node`` names this Dendrite, for observers)."""
        caps = list(request.capabilities or [])
        if request.neuron is None and not caps:
            raise ValueError("dispatch needs neuron= or capabilities=")
        check_task_parts(request.neuron, caps, trace_id, request.parent_id)
        task = task_signal(
            input=request.input,
            neuron=request.neuron,
            capabilities=caps,
            trace_id=trace_id,
            parent_id=request.parent_id,
            meta=request.meta,
            finalize=request.finalize,
            context_ref=request.context_ref,
        )
        task.meta.setdefault("node", self._outbox.node)
        self._traces.stake(task.trace_id)  # a caller takes part in the trace (it acks a STOP)
        return task

    async def route(self, task: Signal, wait_s: float) -> tuple[Host, float]:
        """Address a capability TASK to the host that will run it. Returns the host and
        the seconds spent waiting for a DISCOVER to be answered (0 when membership
        already knew a covering host).

        Raises NoCapableNeuronError (after publishing the ERROR) when none covers it."""
        directed = task.directed
        assert directed is not None
        caps = directed.capabilities
        hosts = self.hosts
        if hosts is None:
            async with self._hosts_lock:  # concurrent first dispatches wait for one setup
                hosts = self.hosts
                if hosts is None:
                    await self._subs.ensure(*MEMBERSHIP)
                    hosts = self.hosts = HostPicker()
        picked = hosts.pick(caps)
        waited = 0.0
        if picked is None:
            loop = asyncio.get_running_loop()
            began = loop.time()
            picked = await hosts.discover(
                caps,
                send_discover=lambda: self._outbox.send(
                    discover_signal(capabilities=caps, node=self._outbox.node)
                ),
                timeout_s=min(self._discover_timeout_s, wait_s),
            )
            waited = loop.time() - began
        if picked is None:
            await self._refuse(task, caps)
        assert picked is not None
        directed.id = picked.neuron_id
        if picked.node is not None:
            task.meta["host"] = picked.node  # replicas of the neuron id: only this one runs it
        return picked, waited

    async def _refuse(self, task: Signal, caps: list[str]) -> None:
        node = self._outbox.node
        wanted = ", ".join(caps)
        message = (
            f"no live neuron covers the capabilities [{wanted}] "
            f"in namespace {self._outbox.namespace!r}"
        )
        try:
            await self._outbox.publish(
                error_signal(
                    trace_id=task.trace_id,
                    parent_id=task.id,
                    code=NoCapableNeuronError.code,
                    message=message,
                    producer=node,
                    meta={"node": node, "capabilities": list(caps)},
                )
            )
        except Exception as exc:  # the exception below is what matters to the caller
            log.debug("ERROR %s not published: %r", NoCapableNeuronError.code, exc)
        raise NoCapableNeuronError(message, capabilities=list(caps), trace_id=task.trace_id)

    # -- dispatching -----------------------------------------------------------------------

    async def dispatch(self, request: TaskRequest, trace_id: str | None) -> Signal:
        """Publish the TASK of ``request`` without waiting; return it."""
        task = self.new_task(request, trace_id)
        if request.neuron is None:
            await self.route(task, self._discover_timeout_s)
        await self._outbox.publish(task)
        return task

    async def wait_once(
        self,
        request: TaskRequest,
        *,
        trace_id: str | None,
        timeout_s: float,
        stop_on_timeout: bool,
        stop_on_cancel: bool,
        deadline: bool = False,
    ) -> Signal:
        """Dispatch one attempt and return its reply (what retry repeats). With
        ``deadline`` the TASK carries ``meta.deadline_ms`` = the wait, so its host cuts
        the run there (and delegated TASKs inherit what is left)."""
        self._require_running()
        if self._reply_subs_missing:
            await self._subs.ensure(*REPLIES)
            self._reply_subs_missing = not self._subs.has(REPLIES)
        task = self.new_task(request, trace_id)
        trace = task.trace_id
        traces = self._traces
        if traces.stopped_traces and traces.is_stopped(task):  # fail now, not at timeout
            raise TraceStoppedError(f"trace {trace} was stopped; nothing was dispatched")
        routed_to: Host | None = None
        if request.neuron is None:
            routed_to, waited = await self.route(task, timeout_s)
            timeout_s = max(timeout_s - waited, 0.0)  # the DISCOVER's wait counts too
        if deadline:
            task.meta.setdefault("deadline_ms", max(1, int(timeout_s * 1000)))
        fut = self._replies.add(task, want_final=request.finalize)
        try:
            # a TASK addressed by neuron id is well formed as built; routing filled in
            # a host's advertised neuron id, which the snapshot checks
            sending = self._outbox.post(task, checked=request.neuron is not None)
            if sending is not None:
                await sending
            self._deadlines.watch(fut, timeout_s)
            return await fut
        except TimeoutError:
            if stop_on_timeout:
                self.abandon(task)
            raise DispatchTimeoutError(
                f"no reply from {request.target!r} within {timeout_s:g} s (trace {trace})"
            ) from None
        except asyncio.CancelledError:
            if stop_on_cancel and (fut.cancelled() or not fut.done()):  # no answer came
                self.abandon(task)
            raise
        finally:
            if not fut.done():
                fut.cancel()
            self._replies.discard(task.id)
            if routed_to is not None and self.hosts is not None:
                answered = fut.done() and not fut.cancelled() and fut.exception() is None
                self.hosts.finished(routed_to, answered=answered)

    def abandon(self, task: Signal) -> None:
        """STOP the attempt of a wait that ended unanswered, in the background (the
        caller may be being cancelled), unless another wait shares its trace."""
        if not self._subs.active or self._replies.others_on_trace(task.id, task.trace_id):
            return
        attempt = task.meta.get("attempt")
        self._work.spawn_control(
            self._stop_abandoned(task.trace_id, attempt if type(attempt) is int else None)
        )

    async def _stop_abandoned(self, trace_id: str, attempt: int | None) -> None:
        async with asyncio.timeout(ABANDON_DEADLINE_S):
            await self._stop_trace(
                trace_id, False, "the caller stopped waiting for its reply", attempt
            )

    async def retrying(
        self,
        request: TaskRequest,
        retry: RetryStrategy,
        trace_id: str | None,
        timeout_s: float | None,
        stop_abandoned: bool,
        deadline: bool = False,
    ) -> Signal:
        """The one retry entry point: attempts by :meth:`wait_once`, each abandoned
        attempt STOPped before the next (docs/protocol.md section 5, "Retry")."""

        async def attempt(trace: str, meta: dict[str, Any], wait_s: float) -> Signal:
            return await self.wait_once(
                replace(request, meta=meta),
                trace_id=trace,
                timeout_s=wait_s,
                stop_on_timeout=False,  # retry STOPs it, before the next attempt
                stop_on_cancel=stop_abandoned,
                deadline=deadline,
            )

        return await run_with_retry(
            attempt,
            self._stop_trace,
            retry=retry,
            target=request.target,
            trace_id=trace_id,
            meta=request.meta,
            timeout_s=timeout_s,
        )

    # -- replies ---------------------------------------------------------------------------

    def on_reply(self, subject: str, reply: Signal) -> bool:
        """An AGENT_OUTPUT, FINAL or ERROR: note who answered, end the wait it answers."""
        node = reply.meta.get("node")
        if type(node) is str:
            self._traces.stake(reply.trace_id, node)
        self._replies.resolve(reply)
        return True

    def on_membership(self, subject: str, signal: Signal) -> bool:
        """REGISTER, DEREGISTER, HEARTBEAT: keep the capability hosts current."""
        if self.hosts is not None:
            self.hosts.observe(signal)
        return True
