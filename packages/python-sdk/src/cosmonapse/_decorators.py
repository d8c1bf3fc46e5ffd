"""The handler decorators of a Dendrite: ``@dendrite.on_signal(...)``,
``@dendrite.on_agent_output``, ``@dendrite.on_final``, ``@dendrite.on_error_signal``."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from ._handlers import HandlerSpec, SignalHandler
from .signal import SignalType


class HandlerDecorators(abc.ABC):
    """Registers decorated user handlers through :meth:`_add_handler` (the Dendrite
    subscribes the type when it is running)."""

    __slots__ = ()

    @abc.abstractmethod
    def _add_handler(self, spec: HandlerSpec, signal_type: SignalType) -> None: ...

    def on_signal(
        self,
        signal_type: SignalType | str,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Callable[[SignalHandler], SignalHandler]:
        """Decorator: run the handler for Signals of ``signal_type`` passing the filters."""
        kind = SignalType(signal_type)

        def register(fn: SignalHandler) -> SignalHandler:
            self._add_handler(HandlerSpec(fn, neuron, capability, trace_id), kind)
            return fn

        return register

    def on_agent_output(
        self,
        fn: SignalHandler | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Any:
        """Decorator (bare or with ``neuron=``, ``capability=``, ``trace_id=``) for
        AGENT_OUTPUT."""
        return self._decorate(SignalType.AGENT_OUTPUT, fn, neuron, capability, trace_id)

    def on_final(
        self,
        fn: SignalHandler | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Any:
        """Decorator (bare or with filters) for FINAL."""
        return self._decorate(SignalType.FINAL, fn, neuron, capability, trace_id)

    def on_error_signal(
        self,
        fn: SignalHandler | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Any:
        """Decorator (bare or with filters) for ERROR."""
        return self._decorate(SignalType.ERROR, fn, neuron, capability, trace_id)

    def _decorate(
        self,
        kind: SignalType,
        fn: SignalHandler | None,
        neuron: str | None,
        capability: str | None,
        trace_id: str | None,
    ) -> Any:
        register = self.on_signal(kind, neuron=neuron, capability=capability, trace_id=trace_id)
        return register if fn is None else register(fn)
