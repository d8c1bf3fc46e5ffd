"""The inbound path of a Dendrite: frame -> Signal -> the handler of its type -> user
handlers (docs/architecture.md follows one TASK through it). From the in-process bus a
frame may come as a snapshot of the Signal (``_snapshot.py``): opening it gives this
Dendrite a Signal of its own without parsing and validating the whole envelope again.

Every step runs without waiting, in arrival order: what needs to wait (a Neuron run, a
send, a user handler) is spawned as an owned task, so a handler never runs user code
inline and frames of every type are handled in the order they arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping

from ._dedup import SeenWindow
from ._handlers import HandlerRegistry, HandlerSpec
from ._outbox import SUPPRESSED
from ._snapshot import SignalSnapshot
from ._traces import TraceBook
from ._work import OwnedWork
from .exceptions import EnvelopeError
from .signal import Signal, SignalType
from .synapses.base import Parcel, ParcelHandler

log = logging.getLogger("cosmonapse.dendrite")

decode_signal = Signal.decode

TypeHandler = Callable[[str, Signal], bool]
"""``handle(subject, signal) -> heard``: the Dendrite's own handling of one Signal type;
False when user handlers must not hear it (a TASK on the routed subject)."""


class Inbound:
    """Decodes frames, drops invalid ones, redeliveries and Signals of stopped traces,
    then calls the :data:`TypeHandler` of the Signal's type (from :attr:`routes`) and
    the user handlers that accept it."""

    __slots__ = (
        "_counters",
        "_handlers",
        "_max_queued",
        "_node",
        "_seen",
        "_traces",
        "_work",
        "routes",
        "skips",
    )

    def __init__(
        self,
        node: str,
        counters: MutableMapping[str, int],
        traces: TraceBook,
        seen: SeenWindow | None,
        handlers: HandlerRegistry,
        work: OwnedWork,
        max_queued: int,
    ) -> None:
        self._node = node
        self._counters = counters
        self._traces = traces
        self._seen = seen
        self._handlers = handlers
        self._work = work
        self._max_queued = max_queued
        self.routes: dict[SignalType, TypeHandler] = {}
        # subject -> a test of a frame on it: True skips it undecoded (see _interest.py)
        self.skips: dict[str, Callable[[bytes | Parcel], bool]] = {}

    def handler(self, plain: bool) -> ParcelHandler:
        """What to subscribe with: the plain function, or a coroutine wrapper for a
        transport that takes no plain handlers."""
        return self.on_frame if plain else self._on_frame_async

    def on_frame(self, subject: str, data: bytes | Parcel) -> None:
        skip = self.skips.get(subject)
        if skip is not None and skip(data):
            self._counters["skipped"] += 1
            return
        signal = self.accept(subject, data)
        if signal is None:
            return
        route = self.routes.get(signal.type)
        if route is not None and not route(subject, signal):
            return
        if signal.type in self._handlers.by_type:
            for spec in self._handlers.accepting(signal):
                self.run_handler(spec, signal)

    async def _on_frame_async(self, subject: str, data: bytes | Parcel) -> None:
        self.on_frame(subject, data)

    def decode(self, data: bytes | Parcel) -> Signal | None:
        """The Signal in ``data``, or None (counted, logged now and then) when invalid."""
        if type(data) is SignalSnapshot:
            return data.open()  # checked when it was published
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data = data.frame()  # a parcel of another kind
        try:
            return decode_signal(data)
        except EnvelopeError as exc:
            self._bad_frame(exc)
            return None

    def _bad_frame(self, exc: EnvelopeError) -> None:
        counters = self._counters
        counters["bad_frames"] += 1
        if counters["bad_frames"] % 1000 == 1:
            log.warning(
                "dendrite %s: dropped an invalid Signal (%s); dropped so far: %d",
                self._node,
                exc,
                counters["bad_frames"],
            )

    def accept(self, subject: str, data: bytes | Parcel) -> Signal | None:
        """Decode a frame; None for an invalid one, a redelivery, or a Signal of a
        trace this Dendrite has stopped (each counted)."""
        kind = type(data)
        if kind is bytes:  # off a socket: what decode() does, one call shorter
            try:
                signal = decode_signal(data)  # type: ignore[arg-type]
            except EnvelopeError as exc:
                self._bad_frame(exc)
                return None
        elif kind is SignalSnapshot:
            signal = data.open()  # type: ignore[union-attr]
        else:
            decoded = self.decode(data)
            if decoded is None:
                return None
            signal = decoded
        counters = self._counters
        seen = self._seen
        if seen is not None and not seen.first_sight((subject, signal.id)):
            counters["duplicates"] += 1  # a redelivery: handled once already
            return None
        counters["received"] += 1
        traces = self._traces
        if traces.stopped_traces and signal.type in SUPPRESSED and traces.is_stopped(signal):
            counters["suppressed"] += 1
            return None
        return signal

    def deliver_to(self, spec: HandlerSpec) -> ParcelHandler:
        """A frame handler for one user handler (a queue-group subscription of its own)."""

        async def deliver(subject: str, data: bytes | Parcel) -> None:
            signal = self.decode(data)
            traces = self._traces
            if signal is not None and not (
                signal.type in SUPPRESSED and traces.stopped_traces and traces.is_stopped(signal)
            ):
                self.run_handler(spec, signal)

        return deliver

    def run_handler(self, spec: HandlerSpec, signal: Signal) -> None:
        """Spawn one user handler; a TASK handler waits for a Neuron slot and is
        cancelled by the trace's STOP. Past ``max_queued`` the delivery is dropped."""
        work = self._work
        if len(work) >= self._max_queued:
            self._counters["overloaded"] += 1
            log.warning(
                "dendrite %s is overloaded; dropping a %s delivery",
                self._node,
                signal.type.value,
            )
            return
        if signal.type is SignalType.TASK:
            work.spawn(work.bounded(spec.fn(signal)), signal.trace_id)
        else:
            work.spawn(spec.fn(signal), None)
