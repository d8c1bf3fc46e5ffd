"""Futures waiting for Signals: replies by TASK, engram answers and STOP acks by parent."""

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


def _expire_one(fut: asyncio.Future[Signal]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _Waiter:
    __slots__ = ("fut", "output_id", "trace_id", "want_final")

    def __init__(self, fut: asyncio.Future[Signal], trace_id: str, want_final: bool) -> None:
        self.fut = fut
        self.trace_id = trace_id
        self.want_final = want_final
        self.output_id: str | None = None  # the AGENT_OUTPUT a FINAL may be parented to


class ReplyWaiters:
    """``dispatch_and_wait`` futures keyed by the TASK they wait on.

    A reply belongs to the TASK named by its ``parent_id`` (AGENT_OUTPUT, ERROR) or, for
    a FINAL, by its ``meta.task`` or a ``parent_id`` naming the TASK's AGENT_OUTPUT
    (workers parent the FINAL that closes a ``finalize`` TASK to its AGENT_OUTPUT). So
    two waits on one trace each get their own answer.

    AGENT_OUTPUT resolves a waiter that does not insist on FINAL. A FINAL, or an ERROR
    with no ``parent_id``, that names no waiting TASK ends every wait on its trace (the
    first terminal Signal of a trace wins).
    """

    def __init__(self) -> None:
        self.by_task: dict[str, _Waiter] = {}  # read, never changed, by _interest.py
        self._by_output: dict[str, _Waiter] = {}
        self._by_trace: dict[str, set[str]] = {}

    def add(self, task: Signal, *, want_final: bool) -> asyncio.Future[Signal]:
        fut: asyncio.Future[Signal] = asyncio.get_running_loop().create_future()
        trace_id = task.trace_id
        self.by_task[task.id] = _Waiter(fut, trace_id, want_final)
        tasks = self._by_trace.get(trace_id)
        if tasks is None:
            self._by_trace[trace_id] = {task.id}
        else:
            tasks.add(task.id)
        return fut

    def discard(self, task_id: str) -> None:
        waiter = self.by_task.pop(task_id, None)
        if waiter is None:
            return
        if waiter.output_id is not None:
            self._by_output.pop(waiter.output_id, None)
        tasks = self._by_trace.get(waiter.trace_id)
        if tasks is not None:
            tasks.discard(task_id)
            if not tasks:
                del self._by_trace[waiter.trace_id]

    def tasks_on_trace(self, trace_id: str) -> list[str]:
        """The TASKs of ``trace_id`` still waited on here."""
        return sorted(self._by_trace.get(trace_id, ()))

    def others_on_trace(self, task_id: str, trace_id: str) -> bool:
        """True when a wait other than ``task_id``'s is pending on ``trace_id``."""
        return any(t != task_id for t in self._by_trace.get(trace_id, ()))

    def resolve(self, signal: Signal) -> None:
        kind = signal.type
        parent = signal.parent_id
        waiter = self.by_task.get(parent) if parent is not None else None
        if kind is SignalType.AGENT_OUTPUT:
            if waiter is None or waiter.fut.done():
                return
            if waiter.want_final:  # wait on: the FINAL may be parented to this output
                waiter.output_id = signal.id
                self._by_output[signal.id] = waiter
            else:
                waiter.fut.set_result(signal)
            return
        if waiter is None and kind is SignalType.FINAL:
            task_id = signal.meta.get("task")
            if type(task_id) is str:
                waiter = self.by_task.get(task_id)
            if waiter is None and parent is not None:
                waiter = self._by_output.get(parent)
        if waiter is not None:
            if not waiter.fut.done():
                waiter.fut.set_result(signal)
        elif kind is SignalType.FINAL or (kind is SignalType.ERROR and parent is None):
            for task_id in self._by_trace.get(signal.trace_id, ()):
                fut = self.by_task[task_id].fut
                if not fut.done():
                    fut.set_result(signal)

    def fail_trace(self, trace_id: str, exc_factory: Callable[[], BaseException]) -> None:
        for task_id in self._by_trace.get(trace_id, ()):
            fut = self.by_task[task_id].fut
            if not fut.done():
                fut.set_exception(exc_factory())

    def __len__(self) -> int:
        return len(self.by_task)


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
