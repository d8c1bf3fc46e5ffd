"""The tasks one Dendrite owns: Neuron runs, user handlers, and the sends it spawns.

Every task is registered here until it finishes, so :meth:`OwnedWork.cancel_all` can end
them on stop and ``len()`` is the Dendrite's in-flight count (what ``max_queued`` bounds).
Work given a trace id is also recorded in the :class:`~cosmonapse._traces.TraceBook`, so a
STOP of that trace cancels it. ``slots`` bounds how many Neuron runs and TASK handlers run
at once (``max_concurrency``); the rest wait for a slot in arrival order.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ._slots import Slots
from ._traces import TraceBook

T = TypeVar("T")

_EAGER = sys.version_info >= (3, 12)  # asyncio.Task(eager_start=True)


class OwnedWork:
    """Start, bound, guard and cancel a Dendrite's tasks.

    ``on_error`` is called with any exception a guarded work item raises (never with a
    cancellation); the task then ends quietly.
    """

    __slots__ = ("_on_error", "_traces", "slots", "tasks")

    def __init__(
        self,
        *,
        traces: TraceBook,
        max_concurrency: int,
        on_error: Callable[[Exception], None],
    ) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.slots = Slots(max_concurrency)
        self._traces = traces
        self._on_error = on_error

    def __len__(self) -> int:
        return len(self.tasks)

    def start(self, coro: Coroutine[Any, Any, None], trace_id: str | None) -> asyncio.Task[None]:
        """Run ``coro`` as an owned task (cancelled on stop, and with the trace's STOP when
        ``trace_id`` is given). ``coro`` must handle its own errors (see :meth:`spawn`)."""
        task = asyncio.get_running_loop().create_task(coro)
        tasks = self.tasks
        tasks.add(task)
        if trace_id is None:
            task.add_done_callback(tasks.discard)
        else:
            self._traces.track(trace_id, task, tasks.discard)
        return task

    def start_run(self, coro: Coroutine[Any, Any, None], trace_id: str) -> None:
        """Run ``coro`` as an owned task of ``trace_id`` with no done callback: ``coro``
        must call :meth:`finish_run` in its ``finally`` (a task cancelled before it ever
        ran is forgotten by whoever cancelled it). One loop callback fewer per run than
        :meth:`start`, on the path every TASK takes.

        On Python 3.12 and later the task starts eagerly: its first step runs now, inside
        this call, so a Neuron that needs no wait is done before this returns, with no
        trip through the event loop (it still runs as a task of its own: ``current_task``
        and ``asyncio.timeout`` work in it as in any task)."""
        loop = asyncio.get_running_loop()
        if _EAGER:
            task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
            if task.done():  # it ran to its end (and its finish_run) inside this call
                self._traces.stake(trace_id)  # it took part all the same (it acks a STOP)
                return
        else:
            task = loop.create_task(coro)
        self.tasks.add(task)
        self._traces.add_running(trace_id, task)

    def finish_run(self, trace_id: str) -> None:
        """Forget the current task, a run started by :meth:`start_run` that is ending."""
        task = asyncio.current_task()
        if task is not None:
            self.tasks.discard(task)
            self._traces.remove_running(trace_id, task)

    def cancel_trace(self, trace_id: str) -> int:
        """Cancel every running or queued task of ``trace_id``; return how many."""
        count = 0
        for task in self._traces.take_running(trace_id):
            if not task.done():
                task.cancel()
                # a run cancelled before it started never reaches its finish_run
                task.add_done_callback(self.tasks.discard)
                count += 1
        return count

    def spawn(self, work: Awaitable[None], trace_id: str | None) -> None:
        """Run ``work`` as an owned task whose errors go to ``on_error``."""
        task = self.start(self._guard(work), trace_id)
        if isinstance(work, Coroutine):
            # Cancelled before it ever ran (a stop right after the spawn): close the inner
            # coroutine too, so it is not reported as never awaited (a no-op otherwise).
            task.add_done_callback(lambda _: work.close())

    def spawn_control(self, work: Awaitable[Any]) -> None:
        """:meth:`spawn` for sends and other bookkeeping whose result is not needed."""
        self.spawn(work, None)

    async def bounded(self, work: Awaitable[T]) -> T:
        """Await ``work`` while holding one of ``slots``; return its result."""
        slots = self.slots
        if not slots.try_acquire():
            try:
                await slots.acquire()
            except BaseException:  # cancelled while queued: ``work`` never starts
                if isinstance(work, Coroutine):
                    work.close()
                raise
        try:
            return await work
        finally:
            slots.release()

    def report(self, exc: Exception) -> None:
        """Hand ``exc``, raised by owned work that carries on, to ``on_error``."""
        self._on_error(exc)

    async def _guard(self, work: Awaitable[None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._on_error(exc)

    async def cancel_all(self, *, extra: asyncio.Task[Any] | None, timeout_s: float) -> None:
        """Cancel every owned task (and ``extra``) and wait for them, at most ``timeout_s``
        (work that ignores cancellation is left running past that)."""
        pending = [t for t in self.tasks if not t.done()]
        for task in pending:
            task.cancel()
        if extra is not None:
            extra.cancel()
            pending.append(extra)
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        self.tasks.difference_update([t for t in pending if t.done()])
