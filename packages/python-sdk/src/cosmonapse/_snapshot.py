"""SignalSnapshot: what the in-process bus carries instead of a Signal's bytes.

Over a socket a receiver gets its own Signal by parsing the sender's bytes, so nothing the
sender does to its Signal after ``publish`` reaches it, and nothing one receiver does to its
copy reaches another. In process the same holds at half the JSON work: at publish the
snapshot writes the payload and meta (the only mutable parts) to JSON, which also refuses
what JSON cannot carry exactly as :meth:`Signal.encode` does, and keeps the envelope's
other fields (strings, or None) as they are; each receiver then parses only that
payload and meta into a Signal of its own, skipping the envelope validation that
:func:`~cosmonapse.signal.well_formed` did once at publish. The whole frame is written
only when a byte-level subscriber (a raw ``subscribe``, a recorder) or a frame limit
needs it, once per snapshot, byte for byte what :meth:`Signal.encode` gives.
"""

from __future__ import annotations

from typing import Any

import orjson

from .exceptions import EnvelopeError
from .signal import Signal, SignalType, directed_from_parts, signal_from_parts, well_formed

__all__ = ["SignalSnapshot", "snapshot_of"]


class SignalSnapshot:
    """An immutable copy of a well-formed Signal, taken at publish.

    :meth:`open` gives each receiver a Signal of its own; :meth:`frame` the encoded
    Signal (made on first use, then kept). Make one with :func:`snapshot_of`.
    """

    __slots__ = ("_body", "_directed", "_frame", "_head", "neuron", "parent_id")

    _head: tuple[str, str, str, str | None, SignalType, str]
    _body: bytes  # JSON of [payload, meta]
    _directed: tuple[str | None, str | None, tuple[str, ...]] | None
    _frame: bytes | None
    parent_id: str | None  # the Signal's, read before it is opened (see _interest.py)
    neuron: str | None  # its directed.id (None without a directed)

    def __init__(self, signal: Signal) -> None:
        """Snapshot ``signal``, which must be :func:`~cosmonapse.signal.well_formed`.

        Raises :class:`~cosmonapse.EnvelopeError` when its payload or meta holds
        something JSON cannot carry (as :meth:`Signal.encode` does)."""
        try:
            self._body = orjson.dumps((signal.payload, signal.meta))
        except TypeError as exc:
            raise EnvelopeError(f"Signal cannot be encoded as JSON: {exc}") from None
        self._head = (
            signal.v,
            signal.id,
            signal.trace_id,
            signal.parent_id,
            signal.type,
            signal.ts,
        )
        self.parent_id = signal.parent_id
        directed = signal.directed
        if directed is None:
            self._directed = self.neuron = None
        else:
            self.neuron = directed.id
            self._directed = (directed.id, directed.type, tuple(directed.capabilities))
        self._frame = None

    @property
    def id(self) -> str:
        """The Signal's id."""
        return self._head[1]

    def open(self) -> Signal:
        """A new Signal equal to the one snapshotted, sharing no mutable part with it or
        with any other Signal opened from this snapshot."""
        payload: dict[str, Any]
        meta: dict[str, Any]
        payload, meta = orjson.loads(self._body)
        v, ident, trace_id, parent_id, signal_type, ts = self._head
        parts = self._directed
        directed = (
            None if parts is None else directed_from_parts(parts[0], parts[1], list(parts[2]))
        )
        return signal_from_parts(
            v, ident, trace_id, parent_id, signal_type, directed, ts, payload, meta
        )

    def frame(self) -> bytes:
        """The Signal's UTF-8 JSON, as :meth:`Signal.encode` would have written it."""
        frame = self._frame
        if frame is None:
            frame = self._frame = self.open().encode()
        return frame

    def __repr__(self) -> str:
        return f"<SignalSnapshot {self._head[4].value} {self._head[1]}>"


def snapshot_of(signal: Signal) -> SignalSnapshot | None:
    """A snapshot of ``signal``, or None when it is not well formed (a receiver would
    refuse or normalise it: send its bytes instead, so it is judged as over a socket).

    Raises :class:`~cosmonapse.EnvelopeError` when its payload or meta is not JSON."""
    if not well_formed(signal):
        return None
    return SignalSnapshot(signal)
