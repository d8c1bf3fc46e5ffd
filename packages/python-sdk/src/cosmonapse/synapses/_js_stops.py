"""The STOPped traces a ``nats+js`` host knows of (docs/transports/nats.md, "Durable work").

A :class:`StopBook` answers "does a STOP cover this TASK?" from memory, without a request
per TASK. It is filled by the STOPs this synapse publishes or hears on the core STOP
subject, and by a :class:`StopWatch` on the namespace's stop bucket, which loads the
bucket's current keys (the STOPs recorded before this host started) and then follows it.
A host pulls no TASK of a namespace before that watch has loaded the bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.js.kv import KeyValue

from ._js_window import SeenWindow

__all__ = ["UNBOUNDED", "StopBook", "StopWatch"]

log = logging.getLogger("cosmonapse.synapse.jetstream")

_WARN_AFTER = 3  # failed watches in a row before a warning

UNBOUNDED = -1
"""The bound of a STOP without ``meta.attempt``: it stops every attempt of its trace."""


class StopBook:
    """``trace key -> attempt bound`` for the last ``limit`` STOPped traces. Keys are the
    stop bucket's keys (:func:`~cosmonapse.synapses._js_names.token` of the trace id)."""

    __slots__ = ("_bounds",)

    def __init__(self, limit: int) -> None:
        self._bounds: SeenWindow[int] = SeenWindow(limit)

    def mark(self, key: str, bound: int) -> None:
        """Record a STOP of attempts up to ``bound`` (or :data:`UNBOUNDED`); a wider STOP
        already recorded stays."""
        previous = self._bounds.get(key)
        if previous is not None and (previous == UNBOUNDED or previous >= bound >= 0):
            return
        self._bounds.add(key, bound)

    def stops(self, key: str, attempt: int) -> bool:
        bound = self._bounds.get(key)
        return bound is not None and (bound == UNBOUNDED or attempt <= bound)


class StopWatch:
    """Follows one stop bucket into a :class:`StopBook`; :attr:`ready` is set once the
    bucket's current keys are in. Re-watches after a failure (server away, fail-over)."""

    def __init__(
        self, book: StopBook, bucket: Callable[[], Awaitable[KeyValue]], retry_s: float
    ) -> None:
        self._book = book
        self._bucket = bucket
        self._retry_s = retry_s
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self, name: str) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name=name)

    async def close(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while True:
            watcher: KeyValue.KeyWatcher | None = None
            try:
                kv = await self._bucket()
                watcher = await kv.watchall()
                async for entry in watcher:
                    if entry is None:  # the bucket's current keys are all in
                        self.ready.set()
                        failures = 0
                    elif entry.operation is None and entry.value is not None:
                        with contextlib.suppress(ValueError):
                            self._book.mark(entry.key, int(entry.value.decode()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                level = logging.WARNING if failures == _WARN_AFTER else logging.DEBUG
                log.log(
                    level,
                    "the stop bucket does not answer (%s: %s)%s",
                    type(exc).__name__,
                    exc,
                    "" if self.ready.is_set() else "; no stored TASK is pulled until it does",
                )
            finally:
                if watcher is not None:
                    with contextlib.suppress(Exception):
                        await watcher.stop()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self._retry_s)
