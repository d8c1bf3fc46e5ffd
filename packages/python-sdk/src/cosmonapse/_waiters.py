"""Futures waiting for Signals: replies by trace, engram answers and STOP acks by parent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .signal import Signal, SignalType


async def wait_future(fut: asyncio.Future[Signal], timeout_s: float) -> Signal:
    """Await ``fut`` for at most ``timeout_s``; raise TimeoutError after that.

    Cheaper than ``asyncio.wait_for`` on the hot path: no wrapper future and no extra
    loop iteration when the answer arrives.
    """

    def expire() -> None:
        if not fut.done():
            fut.set_exception(TimeoutError())

    handle = asyncio.get_running_loop().call_later(timeout_s, expire)
    try:
        return await fut
    finally:
        handle.cancel()


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
