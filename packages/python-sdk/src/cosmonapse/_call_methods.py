"""The Dendrite's public calls for TASKs and STOPs: ``dispatch_task``,
``dispatch_and_wait``, ``run_with_retry`` and ``stop_trace`` (the Dendrite inherits them;
the work is done by ``_calling`` and ``_stopping``)."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Any

from ._calling import Calling, TaskRequest
from ._delegation import Delegation
from ._deprecation import warn_deprecated
from ._ids import new_trace_id
from ._outbox import Outbox
from ._stopping import Stopping
from .budget import DEFAULT_BUDGET, TraceBudget
from .results import Reply, StopResult
from .retry import DEFAULT_ATTEMPT_TIMEOUT_S, RetryStrategy
from .signal import Signal

_LEGACY_STOP_ARGS = ("rollback", "reason", "collect_acks", "timeout_s")


class CallMethods(abc.ABC):
    """TASK and STOP calls, on the Dendrite's ``_calling`` and ``_stopping``."""

    __slots__ = ()

    _calling: Calling
    _stopping: Stopping
    _outbox: Outbox
    _delegation: Delegation

    @abc.abstractmethod
    def _require_started(self) -> None: ...

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
        budget: TraceBudget | None = None,
    ) -> Signal:
        """Send a TASK to a ``neuron`` id (broadcast; its host runs it) or to one live host
        whose capabilities cover ``capabilities`` (picked from membership, see
        docs/protocol.md section 5), without waiting. Returns the TASK.

        Raises :class:`~cosmonapse.NoCapableNeuronError` when no live host covers the
        capabilities (after a DISCOVER and up to ``discover_timeout_s``), and
        :class:`~cosmonapse.EnvelopeError` (nothing is sent) for a ``trace_id`` or
        ``parent_id`` not of the protocol's form or a ``neuron`` that is not a string.
        """
        meta = self._root_meta(meta, budget)
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
        budget: TraceBudget | None = None,
    ) -> Reply:
        """Dispatch a TASK and return the :class:`~cosmonapse.Reply` that answers it: the
        AGENT_OUTPUT, FINAL or ERROR (with ``finalize=True``: the FINAL or ERROR that ends
        the trace). ``reply.output`` is the Neuron's output; an ERROR is returned, not
        raised: ``reply.raise_for_error()`` (or reading ``reply.output``) raises it as
        :class:`~cosmonapse.TaskFailedError`. Replies are matched to the TASK, so
        concurrent waits on one trace each get their own answer.

        ``timeout_s`` bounds the whole call, in seconds (default 30). With ``retry`` a
        stuck or recoverably failed attempt is STOPped and dispatched again (see
        :meth:`run_with_retry`); each attempt waits at most ``retry.timeout_s`` (by
        default the call's ``timeout_s``).

        A wait that ends without an answer (timeout, or the calling task cancelled, for
        example by ``asyncio.timeout`` or a task group) STOPs that attempt, best effort
        and within about a second, so its Neuron does not run on unseen; pass
        ``stop_abandoned=False`` to leave it running. The STOP is skipped while another
        wait of this Dendrite is pending on the same trace. Unless ``stop_abandoned`` is
        False the TASK also carries its wait as ``meta.deadline_ms``: its host cuts the
        run there, and TASKs its Neuron delegates inherit what is left.

        ``budget`` bounds the trace's tree of delegated TASKs (default: the Dendrite's);
        past a bound the trace is STOPped and this raises
        :class:`~cosmonapse.TraceBudgetExceededError`.

        Raises :class:`~cosmonapse.DispatchTimeoutError` (a TimeoutError) when no reply
        came in time, :class:`~cosmonapse.TraceStoppedError` when the trace is (or gets)
        stopped while waiting, :class:`~cosmonapse.NoCapableNeuronError` when no live
        host covers ``capabilities`` and :class:`~cosmonapse.EnvelopeError` (nothing is
        sent) for a ``trace_id`` or ``parent_id`` not of the protocol's form or a
        ``neuron`` that is not a string.
        """
        meta = self._root_meta(meta, budget)
        request = TaskRequest(input, neuron, capabilities, parent_id, meta, finalize, context_ref)
        if budget is not None and budget.max_tokens is not None:
            trace_id = trace_id or new_trace_id()
            self._delegation.watch_root(trace_id, budget)
        if retry is not None:
            reply = await self._calling.retrying(
                request, retry, trace_id, timeout_s, stop_abandoned, deadline=stop_abandoned
            )
        else:
            reply = await self._calling.wait_once(
                request,
                trace_id=trace_id,
                timeout_s=DEFAULT_ATTEMPT_TIMEOUT_S if timeout_s is None else timeout_s,
                stop_on_timeout=stop_abandoned,
                stop_on_cancel=stop_abandoned,
                deadline=stop_abandoned,
            )
        return Reply.of(reply)

    def _root_meta(
        self, meta: Mapping[str, Any] | None, budget: TraceBudget | None
    ) -> Mapping[str, Any] | None:
        """``meta`` with ``budget`` in it when that is not the default one."""
        if budget is None or budget == DEFAULT_BUDGET:
            return meta
        return {**(meta or {}), "budget": budget.to_meta()}

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
        budget: TraceBudget | None = None,
    ) -> Reply:
        """:meth:`dispatch_and_wait` with ``retry`` (default ``RetryStrategy()``): a stuck
        (no reply within ``retry.timeout_s``) or recoverably failed attempt is STOPped
        first, then the TASK is dispatched again (on a fresh trace by default, with
        ``meta.attempt``). Same options and result as :meth:`dispatch_and_wait`.

        Returns the first successful reply, or an ERROR that is not retried (or the
        recoverable ERROR of the last attempt). When every attempt stalls raises
        :class:`~cosmonapse.DispatchTimeoutError` after about ``max_attempts *
        retry.timeout_s`` (or at ``timeout_s``).
        """
        return await self.dispatch_and_wait(
            input=input,
            neuron=neuron,
            capabilities=capabilities,
            timeout_s=timeout_s,
            trace_id=trace_id,
            parent_id=parent_id,
            meta=meta,
            finalize=finalize,
            context_ref=context_ref,
            retry=retry or RetryStrategy(),
            stop_abandoned=stop_abandoned,
            budget=budget,
        )

    async def stop_trace(
        self,
        trace_id: str,
        *legacy: Any,
        rollback: bool = False,
        reason: str | None = None,
        collect_acks: bool = False,
        timeout_s: float = 1.0,
        attempt: int | None = None,
    ) -> StopResult:
        """STOP a whole trace on every Dendrite; with ``rollback`` its Engram writes are
        undone from each Engram's saga journal.

        This Dendrite's own waits on the trace end with
        :class:`~cosmonapse.TraceStoppedError` and its late replies are dropped before the
        STOP is published. With ``collect_acks`` it then waits up to ``timeout_s`` seconds
        for the STOPPED acks, returning early once the acks name the run of every TASK still
        waited on (a delegated child's included) and every Dendrite known to have a stake in
        the trace has acked. ``attempt`` stops only attempts up to that number (a retry
        on the same trace goes on).

        Returns a :class:`~cosmonapse.StopResult` (the STOP, the acks, ``cancelled``,
        ``compensated``, ``complete``); it is also the sequence of the acks.
        """
        if legacy:
            rollback, reason, collect_acks, timeout_s = _legacy_stop_args(
                legacy, rollback, reason, collect_acks, timeout_s
            )
        self._require_started()
        stop = self._stopping.build(trace_id, rollback=rollback, reason=reason, attempt=attempt)
        return await self._stopping.stop_trace(stop, collect_acks=collect_acks, timeout_s=timeout_s)

    async def emit_stop(
        self,
        trace_id: str,
        *,
        rollback: bool = False,
        reason: str | None = None,
        attempt: int | None = None,
    ) -> Signal:
        """Deprecated: use :meth:`stop_trace`, which also ends this Dendrite's own waits on
        the trace. Publishes a STOP of ``trace_id`` and returns it."""
        warn_deprecated(
            "emit_stop() is deprecated; use stop_trace(trace_id, ...), which returns a "
            "StopResult whose .stop is the STOP"
        )
        stop = self._stopping.build(trace_id, rollback=rollback, reason=reason, attempt=attempt)
        await self._outbox.publish(stop)
        return stop


def _legacy_stop_args(
    legacy: tuple[Any, ...],
    rollback: bool,
    reason: str | None,
    collect_acks: bool,
    timeout_s: float,
) -> tuple[bool, str | None, bool, float]:
    """``stop_trace(trace_id, rollback, reason, collect_acks, timeout_s)`` as positional
    arguments, as earlier versions took them: still accepted, with a DeprecationWarning."""
    if len(legacy) > len(_LEGACY_STOP_ARGS):
        raise TypeError(
            f"stop_trace() takes trace_id and keyword options; got {len(legacy) + 1} "
            "positional arguments"
        )
    names = ", ".join(_LEGACY_STOP_ARGS[: len(legacy)])
    warn_deprecated(
        f"positional options to stop_trace() are deprecated; pass {names} by keyword",
        stacklevel=3,
    )
    values: list[Any] = [rollback, reason, collect_acks, timeout_s]
    values[: len(legacy)] = legacy
    return bool(values[0]), values[1], bool(values[2]), float(values[3])
