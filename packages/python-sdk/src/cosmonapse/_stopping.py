"""STOP, on both sides (docs/protocol.md section 5, "STOP and rollback").

The issuer marks the trace stopped before publishing, so late replies are dropped and
waits on the trace end at once; it may collect the STOPPED acks. Every Dendrite that
hears a STOP cancels the trace's work, rolls back or discards its hosted Engrams'
journals of the trace, and answers one STOPPED when it had a stake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from ._outbox import Outbox
from ._subscriptions import Subscriptions
from ._traces import TraceBook
from ._waiters import ParentWaiters, ReplyWaiters
from ._work import OwnedWork
from .builders import stop_signal, stopped_signal
from .engram import Engram
from .exceptions import TraceBudgetExceededError, TraceStoppedError
from .results import StopResult
from .signal import Signal, SignalType

log = logging.getLogger("cosmonapse.dendrite")


class Stopping:
    """Issues STOPs for one Dendrite and carries out the STOPs it hears."""

    __slots__ = ("_answers", "_engrams", "_outbox", "_replies", "_subs", "_traces", "_work")

    def __init__(
        self,
        outbox: Outbox,
        subs: Subscriptions,
        traces: TraceBook,
        work: OwnedWork,
        replies: ReplyWaiters,
        answers: ParentWaiters,
        engrams: Mapping[str, Engram],
    ) -> None:
        self._outbox = outbox
        self._subs = subs
        self._traces = traces
        self._work = work
        self._replies = replies
        self._answers = answers
        self._engrams = engrams

    def build(
        self, trace_id: str, *, rollback: bool, reason: str | None, attempt: int | None
    ) -> Signal:
        """A STOP of ``trace_id`` from this Dendrite (``attempt``: stop only attempts up
        to that number)."""
        stop = stop_signal(
            trace_id=trace_id, rollback=rollback, reason=reason, producer=self._outbox.node
        )
        if attempt is not None:
            stop.meta["attempt"] = attempt
        return stop

    async def stop_trace(self, stop: Signal, *, collect_acks: bool, timeout_s: float) -> StopResult:
        """Apply ``stop`` here, publish it, and with ``collect_acks`` gather the STOPPED
        acks that came within ``timeout_s`` (early once every Dendrite known to have a
        stake has acked, and every TASK still waited on is named as run by some ack)."""
        self._outbox.check_role(SignalType.STOP)  # refuse before touching any local state
        if not collect_acks:
            self.apply_locally(stop)
            await self._outbox.publish(stop)
            return StopResult(stop)
        await self._subs.ensure(SignalType.STOPPED)
        me = self._outbox.node
        expected = self._traces.peers(stop.trace_id) - {me}
        # TASKs someone waits on: each must be named as run by the ack of its host (a
        # delegated TASK's host is known to no one until it answers).
        awaited = set(self._replies.tasks_on_trace(stop.trace_id))
        acks, arrived = self._answers.collect(stop.id)
        try:
            self.apply_locally(stop)
            await self._outbox.publish(stop)
            deadline = time.monotonic() + timeout_s
            complete = False
            while True:
                acked = {a.payload.get("node") for a in acks}
                ran: set[str] = set()
                for ack in acks:
                    meta = ack.meta
                    expected |= _strings(meta.get("peers"))
                    awaited |= _strings(meta.get("awaited"))
                    ran |= _strings(meta.get("ran"))
                expected.discard(me)
                if (expected or awaited) and expected <= acked and awaited <= ran:
                    complete = True
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), left)
                except TimeoutError:
                    break
            return StopResult(stop, tuple(acks), complete, _rollback_errors(acks))
        finally:
            self._answers.forget(stop.id)

    def apply_locally(self, stop: Signal) -> None:
        """The issuer's side, before the STOP is published: from here on late replies are
        dropped, and a wait still pending on the trace ends with TraceStoppedError.
        (Local work is cancelled when the STOP comes back.)"""
        bound = stop.meta.get("attempt")
        self._traces.mark_stopped(stop.trace_id, bound if isinstance(bound, int) else None)
        self._replies.fail_trace(stop.trace_id, lambda: stop_error(stop))

    def on_stop(self, subject: str, stop: Signal) -> bool:
        """A STOP heard. Everything but the ack happens before the next frame is looked
        at, so a TASK published after a STOP on the same connection never races it."""
        traces = self._traces
        engrams = self._engrams.values()
        trace_id = stop.trace_id
        bound = stop.meta.get("attempt")
        had_stake = traces.has_stake(trace_id) or any(e.has_stake(trace_id) for e in engrams)
        traces.mark_stopped(trace_id, bound if isinstance(bound, int) else None)
        awaited = self._replies.tasks_on_trace(trace_id)  # delegated TASKs still open
        ran = traces.runs_on(trace_id) if traces.runs else []
        if not isinstance(bound, int):  # waits here end too (a bounded STOP is a retry's)
            self._replies.fail_trace(trace_id, lambda: stop_error(stop))
        cancelled = self._work.cancel_trace(trace_id)
        rollback = bool(stop.payload.get("rollback", False))
        compensated, failed = self._settle_journals(trace_id, rollback)
        me = self._outbox.node
        peers = sorted(traces.peers(trace_id) - {me})
        traces.release(trace_id)
        if not had_stake:
            return True
        if cancelled or compensated:
            log.info(
                "STOP %s: cancelled %d, compensated %d (%s)",
                trace_id,
                cancelled,
                compensated,
                stop.payload.get("reason") or "no reason given",
            )
        ack = stopped_signal(
            stop, node=me, rolled_back=rollback, cancelled=cancelled, compensated=compensated
        )
        if peers:
            ack.meta["peers"] = peers
        if awaited:
            ack.meta["awaited"] = awaited
        if ran:
            ack.meta["ran"] = ran
        if failed:
            ack.meta["rollback_errors"] = failed
        self._work.spawn_control(self._outbox.send(ack))
        return True

    def _settle_journals(self, trace_id: str, rollback: bool) -> tuple[int, dict[str, str]]:
        """Roll back (or discard) each hosted Engram's journal of ``trace_id``. An Engram
        that fails is logged and named in the result; the others and the ack go on."""
        compensated = 0
        failed: dict[str, str] = {}
        for engram in self._engrams.values():
            try:
                if rollback:
                    compensated += engram.rollback(trace_id)
                else:
                    engram.discard(trace_id)
            except Exception as exc:
                failed[engram.engram_id] = str(exc) or type(exc).__name__
                log.error(
                    "STOP %s: engram %s could not %s the trace: %r",
                    trace_id,
                    engram.engram_id,
                    "roll back" if rollback else "discard",
                    exc,
                    exc_info=exc,
                )
        return compensated, failed


def _rollback_errors(acks: list[Signal]) -> dict[str, str]:
    """The ``meta.rollback_errors`` of every ack, merged (engram id -> reason)."""
    merged: dict[str, str] = {}
    for ack in acks:
        errors = ack.meta.get("rollback_errors")
        if isinstance(errors, dict):
            merged.update({str(k): str(v) for k, v in errors.items()})
    return merged


def stop_error(stop: Signal) -> TraceStoppedError:
    """What a wait on the trace of ``stop`` raises: TraceBudgetExceededError for a STOP a
    budget bound caused (``meta.budget_exceeded``), else TraceStoppedError with the reason."""
    trace_id = stop.trace_id
    reason = stop.payload.get("reason")
    message = f"trace {trace_id} was stopped" + (f": {reason}" if reason else "")
    exceeded = stop.meta.get("budget_exceeded")
    if isinstance(exceeded, dict):
        bound, limit, value = exceeded.get("bound"), exceeded.get("limit"), exceeded.get("value")
        if isinstance(bound, str) and type(limit) is int and type(value) is int:
            return TraceBudgetExceededError(
                message, trace_id=trace_id, bound=bound, limit=limit, value=value
            )
    return TraceStoppedError(message)


def _strings(value: object) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()
