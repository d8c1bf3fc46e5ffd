"""User handlers registered on a Dendrite, with their filters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .signal import Signal, SignalType

SignalHandler = Callable[[Signal], Awaitable[None]]
"""``async def handler(signal: Signal) -> None``"""


@dataclass(slots=True, frozen=True)
class HandlerSpec:
    """A handler and the filters a Signal must pass to reach it.

    ``neuron`` matches ``directed.id``; ``capability`` must be in ``directed.capabilities``
    or ``payload.capabilities``; ``trace_id`` matches the trace.
    """

    fn: SignalHandler
    neuron: str | None = None
    capability: str | None = None
    trace_id: str | None = None

    def accepts(self, signal: Signal) -> bool:
        if self.trace_id is not None and signal.trace_id != self.trace_id:
            return False
        if self.neuron is not None and signal.neuron != self.neuron:
            return False
        if self.capability is not None:
            directed = signal.directed
            caps = list(directed.capabilities) if directed is not None else []
            extra = signal.payload.get("capabilities")
            if isinstance(extra, list):
                caps.extend(extra)
            if self.capability not in caps:
                return False
        return True


class HandlerRegistry:
    """The user handlers of one Dendrite, by Signal type, in registration order."""

    __slots__ = ("by_type",)

    def __init__(self) -> None:
        self.by_type: dict[SignalType, list[HandlerSpec]] = {}

    def add(self, signal_type: SignalType, spec: HandlerSpec) -> None:
        self.by_type.setdefault(signal_type, []).append(spec)

    def remove(self, signal_type: SignalType, spec: HandlerSpec) -> bool:
        """Forget ``spec`` (one registration of it); False when it was not registered."""
        specs = self.by_type.get(signal_type, [])
        index = next((i for i, s in enumerate(specs) if s is spec), None)
        if index is None:
            return False
        del specs[index]
        if not specs:
            del self.by_type[signal_type]
        return True

    def types(self) -> set[SignalType]:
        """The Signal types some handler listens to."""
        return set(self.by_type)

    def accepting(self, signal: Signal) -> list[HandlerSpec]:
        """The handlers ``signal`` reaches (its type, past their filters)."""
        specs = self.by_type.get(signal.type)
        if not specs:
            return []
        return [spec for spec in specs if spec.accepts(signal)]
