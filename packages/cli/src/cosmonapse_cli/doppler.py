"""The Doppler: a passive observer that prints every Signal of a namespace.

It subscribes to ``cosmonapse.<ns>.>`` (or ``cosmonapse.>`` for every namespace) with no
queue group, on any :class:`~cosmonapse.Synapse`: the dev synapse's in-process client in
``cosmo synapse start``, a ``cosmo://`` or ``nats://`` client in ``cosmo doppler``. Its
handler only decodes, filters and queues a line for the :class:`LinePrinter`; it never
waits on the terminal. It remembers the route of the last Signals it saw (a
:class:`cosmonapse.RouteCache`, filtered ones included) so a reply's ``from -> to``
names whoever sent its parent, as Prism does. It also keeps a :class:`TraceTree`, so a
delegated TASK and its reply are indented by their depth in the trace, and a STOP's line
is followed by a ``STOP cut`` line naming the TASKs of the trace it cut (still open).
"""

from __future__ import annotations

import asyncio
import logging

from cosmonapse import EnvelopeError, RouteCache, Signal, Subscription, Synapse
from cosmonapse.subjects import PREFIX, namespace_wildcard

from .console import LinePrinter
from .render import SignalFilter, describe, render_cut, render_line, render_undecodable
from .tree import TraceTree

__all__ = ["Doppler"]

log = logging.getLogger("cosmonapse.doppler")


class Doppler:
    """Prints matching Signals from ``synapse`` to ``printer``.

    ``as_json`` prints each Signal as one compact JSON line (NDJSON) instead of a
    coloured line. ``limit`` (optional) ends :meth:`wait` after that many Signals.
    Frames that are not valid Signals are reported (on stderr's log in JSON mode) and
    counted in :attr:`undecodable`.
    """

    def __init__(
        self,
        synapse: Synapse,
        namespace: str | None,
        printer: LinePrinter,
        *,
        signal_filter: SignalFilter | None = None,
        as_json: bool = False,
        limit: int | None = None,
    ) -> None:
        self._synapse = synapse
        self.subject = namespace_wildcard(namespace) if namespace else f"{PREFIX}.>"
        self._printer = printer
        self._filter = signal_filter or SignalFilter()
        self._as_json = as_json
        self._limit = limit
        self._done = asyncio.Event()
        self._subscription: Subscription | None = None
        self._routes = RouteCache()
        self._tree = TraceTree()
        self.shown = 0
        self.undecodable = 0

    async def start(self) -> None:
        """Subscribe; Signals published after this returns are shown."""
        self._subscription = await self._synapse.subscribe(self.subject, self._on_frame)

    async def wait(self) -> None:
        """Return once ``limit`` Signals were shown (never, without a limit)."""
        await self._done.wait()

    async def stop(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.unsubscribe()

    async def _on_frame(self, subject: str, data: bytes) -> None:
        if self._done.is_set():
            return
        try:
            signal = Signal.decode(data)
        except EnvelopeError as exc:
            self.undecodable += 1
            if self._as_json:
                log.warning("skipped a frame on %s that is not a Signal: %s", subject, exc)
            else:
                width = self._printer.width
                self._printer.put(render_undecodable(subject, data, str(exc), width))
            return
        route = self._routes.route(signal)
        depth, cuts = self._tree.observe(signal, route)
        if not self._filter.matches(signal, route):
            return
        if self._as_json:
            self._printer.put(signal.encode().decode())
        else:
            namespace = subject.split(".", 2)[1]
            width = self._printer.width
            line = describe(signal, namespace, route, fitted=width is not None, depth=depth)
            self._printer.put(render_line(line, width))
            if cuts:
                self._printer.put(render_cut(line, cuts, width))
        self.shown += 1
        if self._limit is not None and self.shown >= self._limit:
            self._done.set()
