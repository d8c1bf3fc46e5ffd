"""What a Dendrite's calls hand back: :class:`Reply` (the answer to a TASK) and
:class:`StopResult` (what a STOP did).

A :class:`Reply` *is* the Signal that answered (``reply.neuron``, ``reply.payload``,
``reply.trace_id`` all work as on any Signal), with typed shortcuts on top. An ERROR answer
is returned, not raised: call :meth:`Reply.raise_for_error` (as with httpx's
``raise_for_status()``) or read :attr:`Reply.output`, which raises for an ERROR since it
has no output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, overload

from .exceptions import TaskFailedError
from .signal import Signal, SignalType

__all__ = ["Reply", "StopResult"]

_FIELDS = tuple(f.name for f in fields(Signal))


class Reply(Signal):
    """The AGENT_OUTPUT, FINAL or ERROR that answered a TASK.

    ``ok`` is False for an ERROR. ``output`` is the Neuron's output (an AGENT_OUTPUT's
    ``payload.output``, a FINAL's ``payload.result``); for an ERROR it raises
    :class:`~cosmonapse.TaskFailedError`, as :meth:`raise_for_error` does. ``producer`` is
    who answered (``directed.id``, the same as ``neuron``), ``node`` the Dendrite that ran
    it (``meta.node``) and ``elapsed_s`` how long the Neuron ran, in seconds
    (``meta.took_ms``), when the answer says.
    """

    __slots__ = ()

    @classmethod
    def of(cls, signal: Signal) -> Reply:
        """``signal`` as a Reply (the same field values; ``signal`` itself is left as is)."""
        if isinstance(signal, Reply):
            return signal
        reply = object.__new__(cls)
        # field by field, spelled out: a loop over the names costs twice as much
        reply.v = signal.v
        reply.id = signal.id
        reply.trace_id = signal.trace_id
        reply.parent_id = signal.parent_id
        reply.type = signal.type
        reply.directed = signal.directed
        reply.ts = signal.ts
        reply.payload = signal.payload
        reply.meta = signal.meta
        return reply

    @property
    def ok(self) -> bool:
        """True unless this is an ERROR."""
        return self.type is not SignalType.ERROR

    @property
    def output(self) -> dict[str, Any]:
        """The Neuron's output; raises :class:`~cosmonapse.TaskFailedError` for an ERROR."""
        self.raise_for_error()
        key = "result" if self.type is SignalType.FINAL else "output"
        value = self.payload.get(key)
        return value if isinstance(value, dict) else {}

    @property
    def producer(self) -> str | None:
        """Who answered: the neuron id (or, for a refusal, the Dendrite) in ``directed.id``."""
        return self.neuron

    @property
    def node(self) -> str | None:
        """The Dendrite that ran the Neuron (``meta.node``), when the answer names it."""
        node = self.meta.get("node")
        return node if isinstance(node, str) else None

    @property
    def elapsed_s(self) -> float | None:
        """How long the Neuron ran, in seconds (``meta.took_ms``), when the answer says."""
        took = self.meta.get("took_ms")
        if isinstance(took, int | float) and not isinstance(took, bool):
            return took / 1000
        return None

    @property
    def error(self) -> TaskFailedError | None:
        """For an ERROR, the exception :meth:`raise_for_error` raises; else None."""
        if self.type is not SignalType.ERROR:
            return None
        payload = self.payload
        code = payload.get("code")
        message = payload.get("message")
        return TaskFailedError(
            message if isinstance(message, str) else "",
            code=code if isinstance(code, str) else "ERROR",
            recoverable=payload.get("recoverable") is True,
            trace_id=self.trace_id,
            producer=self.neuron,
            reply=self,
        )

    def raise_for_error(self) -> Reply:
        """Raise :class:`~cosmonapse.TaskFailedError` (code, message, ``recoverable``) when
        this is an ERROR; otherwise return this Reply, so calls chain."""
        error = self.error
        if error is not None:
            raise error
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signal):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, as Signal

    def __repr__(self) -> str:
        brief = f"output={self.payload.get('output', self.payload.get('result'))!r}"
        if not self.ok:
            brief = f"error={self.payload.get('code')!r}"
        return f"<Reply {self.type.value} from {self.neuron!r} trace={self.trace_id} {brief}>"


@dataclass(frozen=True, slots=True, eq=False)
class StopResult(Sequence[Signal]):
    """What :meth:`Dendrite.stop_trace <cosmonapse.Dendrite.stop_trace>` did.

    ``stop`` is the STOP that was published; ``acks`` the STOPPED acknowledgements that
    came back (empty unless ``collect_acks=True``); ``cancelled`` and ``compensated`` the
    runs cancelled and Engram writes undone, summed over the acks; ``complete`` is True
    when every Dendrite known to have a stake in the trace acked; ``rollback_errors`` names
    each Engram whose rollback failed (by engram id) with its reason.

    It is also the sequence of the acks, so ``for ack in result`` and ``len(result)`` work
    as on the list earlier versions returned.
    """

    stop: Signal
    acks: tuple[Signal, ...] = ()
    complete: bool = False
    rollback_errors: dict[str, str] = field(default_factory=dict)

    @property
    def trace_id(self) -> str:
        return self.stop.trace_id

    @property
    def cancelled(self) -> int:
        """Runs cancelled, summed over the acks."""
        return sum(_count(ack, "cancelled") for ack in self.acks)

    @property
    def compensated(self) -> int:
        """Engram writes undone by the rollback, summed over the acks."""
        return sum(_count(ack, "compensated") for ack in self.acks)

    @property
    def nodes(self) -> list[str]:
        """The Dendrites that acked, in the order their acks came."""
        return [n for ack in self.acks if isinstance(n := ack.payload.get("node"), str)]

    @overload
    def __getitem__(self, index: int) -> Signal: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Signal]: ...
    def __getitem__(self, index: int | slice) -> Signal | Sequence[Signal]:
        return self.acks[index]

    def __len__(self) -> int:
        return len(self.acks)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StopResult):
            return (self.stop, self.acks, self.complete, self.rollback_errors) == (
                other.stop,
                other.acks,
                other.complete,
                other.rollback_errors,
            )
        if isinstance(other, list | tuple):
            return list(self.acks) == list(other)  # as the list of acks it once was
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Iterator[Signal]:
        return iter(self.acks)

    def __repr__(self) -> str:
        return (
            f"<StopResult trace={self.trace_id} acks={len(self.acks)} "
            f"cancelled={self.cancelled} compensated={self.compensated} "
            f"complete={self.complete}>"
        )


def _count(ack: Signal, key: str) -> int:
    value = ack.payload.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
