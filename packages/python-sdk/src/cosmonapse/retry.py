"""Retrying a stage that stalls or fails recoverably (docs/protocol.md section 5, "Retry").

A failed attempt is STOPped before the next one starts, so a stalled Neuron cannot keep
running, or keep writing to an Engram, behind the retry. By default each retry runs on a
fresh trace, and every attempt's TASK carries ``meta.attempt``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._ids import new_trace_id
from .exceptions import DispatchTimeoutError
from .signal import Signal, SignalType

__all__ = ["DEFAULT_ATTEMPT_TIMEOUT_S", "Outcome", "RetryStrategy"]

DEFAULT_ATTEMPT_TIMEOUT_S = 30.0
"""An attempt's wait when neither the strategy nor the call sets one."""

log = logging.getLogger("cosmonapse.retry")

Outcome = Signal | TimeoutError
"""What ended a failed attempt: the ERROR Signal, or the TimeoutError of a stall."""


@dataclass(frozen=True)
class RetryStrategy:
    """How to retry a dispatch.

    - ``max_attempts``: attempts in total (the first one included).
    - ``timeout_s``: an attempt with no reply within this many seconds is stuck. None
      (the default) takes the call's ``timeout_s``, or 30 s when the call sets none.
    - ``backoff``: seconds to wait before a retry: None (none), a number, or
      ``f(attempt) -> seconds`` where ``attempt`` is the number of the failed attempt. A
      ``meta.retry_after_s`` on a recoverable ERROR is honoured when it is longer.
    - ``retry_on``: ``f(outcome) -> bool``; by default a timeout or a recoverable ERROR
      is retried and any other ERROR is returned at once.
    - ``new_trace``: run each retry on a fresh trace (default) or reuse the trace.
    - ``rollback_on_retry``: STOP the failed attempt with ``rollback=True``.
    - ``on_retry(attempt, outcome)``: called before each retry with the 1-based number of
      the attempt that failed.
    """

    max_attempts: int = 3
    timeout_s: float | None = None
    backoff: float | Callable[[int], float] | None = None
    retry_on: Callable[[Outcome], bool] | None = None
    new_trace: bool = True
    rollback_on_retry: bool = False
    on_retry: Callable[[int, Outcome], Any] | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive (or None: the call's timeout)")

    def attempt_timeout(self, call_timeout_s: float | None) -> float:
        """Seconds one attempt may wait: ``timeout_s``, else the call's, else 30 s."""
        if self.timeout_s is not None:
            return self.timeout_s
        return DEFAULT_ATTEMPT_TIMEOUT_S if call_timeout_s is None else call_timeout_s

    def should_retry(self, outcome: Outcome) -> bool:
        if self.retry_on is not None:
            return bool(self.retry_on(outcome))
        if isinstance(outcome, TimeoutError):
            return True
        return bool(outcome.payload.get("recoverable", False))

    def delay(self, attempt: int, outcome: Outcome) -> float:
        if self.backoff is None:
            base = 0.0
        elif callable(self.backoff):
            base = float(self.backoff(attempt))
        else:
            base = float(self.backoff)
        hint = outcome.meta.get("retry_after_s") if isinstance(outcome, Signal) else None
        if isinstance(hint, (int, float)) and not isinstance(hint, bool):
            cap = (self.timeout_s or DEFAULT_ATTEMPT_TIMEOUT_S) * self.max_attempts
            base = max(base, min(float(hint), cap))
        return max(0.0, base)


Attempt = Callable[[str, dict[str, Any], float], Awaitable[Signal]]
"""``attempt(trace_id, meta, wait_s)``: dispatch once on ``trace_id`` with ``meta`` and
return the reply; raise :class:`~cosmonapse.DispatchTimeoutError` when none came within
``wait_s``."""

Abandon = Callable[[str, bool, str, int | None], Awaitable[object]]
"""``abandon(trace_id, rollback, reason, attempt)``: STOP an abandoned attempt."""


async def run_with_retry(
    attempt_once: Attempt,
    abandon: Abandon,
    *,
    retry: RetryStrategy,
    target: str,
    trace_id: str | None = None,
    meta: Mapping[str, Any] | None = None,
    timeout_s: float | None = None,
) -> Signal:
    """Run ``attempt_once`` until it succeeds, fails for good or ``retry`` gives up,
    calling ``abandon`` on each failed attempt before the next one starts; ``timeout_s``
    bounds the whole call. ``target`` names who the TASK is for, in error messages. See
    :meth:`Dendrite.run_with_retry <cosmonapse.Dendrite.run_with_retry>`."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    trace = trace_id or new_trace_id()
    traces: list[str] = []
    outcome: Outcome | None = None
    cut_short = False  # the call's timeout_s ended an attempt or the whole loop early
    per_attempt = retry.attempt_timeout(timeout_s)
    for attempt in range(1, retry.max_attempts + 1):
        wait_s = per_attempt
        if deadline is not None and deadline - loop.time() < wait_s:
            wait_s = deadline - loop.time()
            cut_short = True
            if wait_s <= 0:
                break
        if attempt > 1 and retry.new_trace:
            trace = new_trace_id()
        traces.append(trace)
        attempt_meta = {**(meta or {}), "attempt": attempt}
        if attempt > 1:
            attempt_meta["retry_of"] = traces[0]
        try:
            reply = await attempt_once(trace, attempt_meta, wait_s)
        except DispatchTimeoutError as exc:
            # Hand callbacks the plain TimeoutError: "attempt 1 stuck (TimeoutError)".
            outcome = TimeoutError(str(exc))
        else:
            if reply.type is not SignalType.ERROR or not retry.should_retry(reply):
                return reply
            outcome = reply
        if isinstance(outcome, TimeoutError) and not retry.should_retry(outcome):
            raise outcome
        # Stop the abandoned attempt before anything else runs, so it cannot keep going.
        await abandon(
            trace,
            retry.rollback_on_retry,
            f"retry: attempt {attempt} abandoned",
            None if retry.new_trace else attempt,
        )
        if attempt == retry.max_attempts:
            break
        log.info(
            "attempt %d of %s on %s failed (%s); retrying",
            attempt,
            target,
            trace,
            _describe(outcome),
        )
        if retry.on_retry is not None:
            result = retry.on_retry(attempt, outcome)
            if asyncio.iscoroutine(result):
                await result
        pause = retry.delay(attempt, outcome)
        if deadline is not None:
            pause = min(pause, max(deadline - loop.time(), 0.0))
        if pause:
            await asyncio.sleep(pause)
    if isinstance(outcome, Signal):
        return outcome
    if cut_short:
        raise DispatchTimeoutError(
            f"{target!r} gave no reply within the call's timeout of {timeout_s:g} s "
            f"({len(traces)} of {retry.max_attempts} attempts; traces: {', '.join(traces)})"
        )
    raise DispatchTimeoutError(
        f"{target!r} gave no reply in {retry.max_attempts} attempts of {per_attempt:g} s "
        f"each (traces: {', '.join(traces)})"
    )


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, Signal):
        return f"ERROR {outcome.payload.get('code')}"
    return type(outcome).__name__
