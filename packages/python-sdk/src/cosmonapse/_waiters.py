"""Futures waiting for Signals: replies by trace, engram answers and STOP acks by parent."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from .signal import Signal, SignalType


class Deadlines:
    """Timeouts for many futures on one loop timer.

    ``asyncio``'s own timers cost a handle, a heap push with Python-level comparisons and
    a cancellation per wait. Here each distinct timeout gets a FIFO of ``(when, future)``
    (deadlines of equal timeouts come due in the order they were set), one timer is armed
    for the earliest head, and finished futures are shed from the front as the queues
    are touched. A future still pending at its deadline gets a ``TimeoutError``.

    Bounded: at most ``max_queues`` distinct timeouts are kept (more fall back to
    ``call_later``), and each queue holds the waits made within one timeout of each other.
    """

    def __init__(self, *, max_queues: int = 64) -> None:
        self._queues: dict[float, deque[tuple[float, asyncio.Future[Signal]]]] = {}
        self._max_queues = max_queues
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")

    def watch(self, fut: asyncio.Future[Signal], timeout_s: float) -> None:
        """Fail ``fut`` with TimeoutError if it is still pending ``timeout_s`` from now."""
        loop = fut.get_loop()
        queue = self._queues.get(timeout_s)
        if queue is None:
            if len(self._queues) >= self._max_queues:
                handle = loop.call_later(timeout_s, _expire_one, fut)
                fut.add_done_callback(lambda _: handle.cancel())
                return
            queue = self._queues[timeout_s] = deque()
        else:
            while queue and queue[0][1].done():
                queue.popleft()
        when = loop.time() + timeout_s
        queue.append((when, fut))
        if when < self._armed_at:
            self._arm(loop, when)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = when
        self._timer = loop.call_at(when, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._armed_at = float("inf")
        now = loop.time()
        earliest = float("inf")
        for timeout_s, queue in list(self._queues.items()):
            while queue:
                when, fut = queue[0]
                if fut.done():
                    queue.popleft()
                elif when <= now:
                    queue.popleft()
                    fut.set_exception(TimeoutError())
                else:
                    earliest = min(earliest, when)
                    break
            if not queue:
                del self._queues[timeout_s]
        if earliest != float("inf"):
            self._arm(loop, earliest)

    def close(self) -> None:
        """Cancel the timer (pending futures are left to their owners)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = float("inf")
        self._queues.clear()


def _expire_one(fut: asyncio.Future[Signal]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class ReplyWaiters:
    """``dispatch_and_wait`` futures keyed by trace id.

    AGENT_OUTPUT resolves waiters that do not insist on FINAL; FINAL and ERROR resolve
    every waiter of the trace (the first terminal Signal wins).
    """

    def __init__(self) -> None:
        self._by_trace: dict[str, list[tuple[asyncio.Future[Signal], bool]]] = {}

    def add(self, trace_id: str, *, want_final: bool) -> asyncio.Future[Signal]:
        fut: asyncio.Future[Signal] = asyncio.get_running_loop().create_future()
        self._by_trace.setdefault(trace_id, []).append((fut, want_final))
        return fut

    def discard(self, trace_id: str, fut: asyncio.Future[Signal]) -> None:
        waiters = self._by_trace.get(trace_id)
        if waiters is None:
            return
        waiters[:] = [w for w in waiters if w[0] is not fut]
        if not waiters:
            del self._by_trace[trace_id]

    def resolve(self, signal: Signal) -> None:
        waiters = self._by_trace.get(signal.trace_id)
        if not waiters:
            return
        terminal = signal.type is not SignalType.AGENT_OUTPUT
        keep: list[tuple[asyncio.Future[Signal], bool]] = []
        for fut, want_final in waiters:
            if fut.done():
                continue
            if terminal or not want_final:
                fut.set_result(signal)
            else:
                keep.append((fut, want_final))
        if keep:
            self._by_trace[signal.trace_id] = keep
        else:
            del self._by_trace[signal.trace_id]

    def fail_trace(self, trace_id: str, exc_factory: Callable[[], BaseException]) -> None:
        for fut, _ in self._by_trace.pop(trace_id, []):
            if not fut.done():
                fut.set_exception(exc_factory())

    def __len__(self) -> int:
        return sum(len(w) for w in self._by_trace.values())


class ParentWaiters:
    """Futures keyed by the id of the Signal they answer (``parent_id`` of the reply).

    With ``collect`` a waiter gathers every answer into a list (STOPPED acks); otherwise
    the first answer wins (IMPRINTED, RECALLED).
    """

    def __init__(self) -> None:
        self._first: dict[str, asyncio.Future[Signal]] = {}
        self._collect: dict[str, tuple[list[Signal], asyncio.Event]] = {}

    def expect(self, parent_id: str) -> asyncio.Future[Signal]:
        fut: asyncio.Future[Signal] = asyncio.get_running_loop().create_future()
        self._first[parent_id] = fut
        return fut

    def collect(self, parent_id: str) -> tuple[list[Signal], asyncio.Event]:
        entry: tuple[list[Signal], asyncio.Event] = ([], asyncio.Event())
        self._collect[parent_id] = entry
        return entry

    def forget(self, parent_id: str) -> None:
        self._first.pop(parent_id, None)
        self._collect.pop(parent_id, None)

    def feed(self, signal: Signal) -> bool:
        parent = signal.parent_id
        if parent is None:
            return False
        fut = self._first.pop(parent, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(signal)
            return True
        entry = self._collect.get(parent)
        if entry is not None:
            entry[0].append(signal)
            entry[1].set()
            return True
        return False

    def __len__(self) -> int:
        return len(self._first) + len(self._collect)
