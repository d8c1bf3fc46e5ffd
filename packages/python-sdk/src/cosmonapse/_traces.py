"""Per-trace bookkeeping of one Dendrite: running work, stakes, peers and STOPs.

Everything here is bounded: records of old traces are forgotten oldest-first once
``max_traces`` is reached.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .signal import Signal

_UNBOUNDED = -1  # a STOP with no attempt bound stops every attempt
_NEW = "\x00new"  # TraceBook.stake: no record of the trace yet (never a node id)


def attempt_of(signal: Signal) -> int:
    attempt = signal.meta.get("attempt", 1)
    return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1


class TraceBook:
    """Which traces this Dendrite works on, which it has stopped, and who else took part."""

    def __init__(self, *, max_traces: int = 10_000) -> None:
        self.max_traces = max_traces
        self._running: dict[str, set[asyncio.Task[Any]]] = {}
        # trace -> its peer nodes: None for none and a str for one, the common cases, so
        # the thousands of records held cost the garbage collector nothing to scan
        self._stakes: OrderedDict[str, set[str] | str | None] = OrderedDict()
        # trace -> highest stopped attempt; read directly on hot paths ("any stopped?")
        self.stopped_traces: OrderedDict[str, int] = OrderedDict()
        # TASK id -> (trace id, loop time of its deadline or None), while this Dendrite
        # runs it: the TASKs a Neuron here may delegate from (docs/protocol.md section 6)
        self.runs: dict[str, tuple[str, float | None]] = {}

    # -- running work --------------------------------------------------------------------

    def track(
        self,
        trace_id: str,
        task: asyncio.Task[Any],
        also: Callable[[asyncio.Task[Any]], object] | None = None,
    ) -> None:
        """Record ``task`` as work of ``trace_id`` until it finishes (then call ``also``
        with it: one done callback instead of two)."""
        self.add_running(trace_id, task)

        def done(finished: asyncio.Task[Any]) -> None:
            self.remove_running(trace_id, finished)
            if also is not None:
                also(finished)

        task.add_done_callback(done)

    def add_running(self, trace_id: str, task: asyncio.Task[Any]) -> None:
        """Record ``task`` as work of ``trace_id`` until :meth:`remove_running`."""
        tasks = self._running.get(trace_id)
        if tasks is None:
            self._running[trace_id] = {task}
        else:
            tasks.add(task)
        self.stake(trace_id)

    def remove_running(self, trace_id: str, task: asyncio.Task[Any]) -> None:
        tasks = self._running.get(trace_id)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._running[trace_id]

    def take_running(self, trace_id: str) -> set[asyncio.Task[Any]]:
        """Forget and return the tasks of ``trace_id`` (to cancel them)."""
        return self._running.pop(trace_id, set())

    def runs_on(self, trace_id: str) -> list[str]:
        """The TASKs of ``trace_id`` running (or queued) here."""
        return sorted(t for t, (trace, _) in self.runs.items() if trace == trace_id)

    # -- stakes and peers ----------------------------------------------------------------

    def stake(self, trace_id: str, peer: str | None = None) -> None:
        """Note that this Dendrite took part in ``trace_id`` (with ``peer``, if given)."""
        stakes = self._stakes
        peers = stakes.get(trace_id, _NEW)
        if peers is _NEW:  # a new trace
            stakes[trace_id] = peer
            if len(stakes) > self.max_traces:
                stakes.popitem(last=False)
        elif peer is not None and peers != peer:
            if peers is None:
                stakes[trace_id] = peer
            elif isinstance(peers, str):
                stakes[trace_id] = {peers, peer}
            else:
                peers.add(peer)

    def has_stake(self, trace_id: str) -> bool:
        return trace_id in self._stakes or trace_id in self._running

    def peers(self, trace_id: str) -> set[str]:
        peers = self._stakes.get(trace_id)
        if peers is None:
            return set()
        return {peers} if type(peers) is str else set(peers)

    def release(self, trace_id: str) -> None:
        """Forget the stake (after a STOP was acknowledged)."""
        self._stakes.pop(trace_id, None)

    # -- stops ---------------------------------------------------------------------------

    def mark_stopped(self, trace_id: str, attempt: int | None) -> None:
        bound = _UNBOUNDED if attempt is None else attempt
        previous = self.stopped_traces.get(trace_id)
        if previous is not None and (
            previous == _UNBOUNDED or (bound != _UNBOUNDED and bound <= previous)
        ):
            return
        self.stopped_traces[trace_id] = bound
        self.stopped_traces.move_to_end(trace_id)
        if len(self.stopped_traces) > self.max_traces:
            self.stopped_traces.popitem(last=False)

    def is_stopped(self, signal: Signal) -> bool:
        """True when ``signal`` belongs to a stopped attempt of its trace."""
        bound = self.stopped_traces.get(signal.trace_id)
        if bound is None:
            return False
        return bound == _UNBOUNDED or attempt_of(signal) <= bound

    def stopped(self, trace_id: str) -> bool:
        return trace_id in self.stopped_traces
