"""The handler decorators of a Dendrite: ``@dendrite.on_signal(...)``,
``@dendrite.on_agent_output``, ``@dendrite.on_final``, ``@dendrite.on_error_signal``."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TypeVar, overload

from ._handlers import HandlerSpec, SignalHandler
from .signal import SignalType

HandlerT = TypeVar("HandlerT", bound=SignalHandler)
"""The decorated handler: every decorator returns it unchanged, with its own type."""


class HandlerDecorators(abc.ABC):
    """Registers decorated user handlers through :meth:`_add_handler` (the Dendrite
    subscribes the type when it is running).

    Each decorator returns the function it decorates unchanged, so its type (and its
    name, for calling it directly in a test) survives: ``@d.on_final`` bare, or
    ``@d.on_final(neuron="poet")`` with filters.
    """

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
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator: run the handler for Signals of ``signal_type`` passing the filters.

        Used on a Dendrite that is already running, the subscription is made in the
        background (a failure is logged); ``await dendrite.subscribe(signal_type, fn)``
        instead waits for it and returns a handle that unsubscribes."""
        kind = SignalType(signal_type)

        def register(fn: HandlerT) -> HandlerT:
            self._add_handler(HandlerSpec(fn, neuron, capability, trace_id), kind)
            return fn

        return register

    @overload
    def on_agent_output(self, fn: HandlerT, /) -> HandlerT: ...
    @overload
    def on_agent_output(
        self,
        fn: None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Callable[[HandlerT], HandlerT]: ...
    def on_agent_output(
        self,
        fn: HandlerT | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        """Decorator (bare or with ``neuron=``, ``capability=``, ``trace_id=``) for
        AGENT_OUTPUT."""
        return self._decorate(SignalType.AGENT_OUTPUT, fn, neuron, capability, trace_id)

    @overload
    def on_final(self, fn: HandlerT, /) -> HandlerT: ...
    @overload
    def on_final(
        self,
        fn: None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Callable[[HandlerT], HandlerT]: ...
    def on_final(
        self,
        fn: HandlerT | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        """Decorator (bare or with filters) for FINAL."""
        return self._decorate(SignalType.FINAL, fn, neuron, capability, trace_id)

    @overload
    def on_error_signal(self, fn: HandlerT, /) -> HandlerT: ...
    @overload
    def on_error_signal(
        self,
        fn: None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> Callable[[HandlerT], HandlerT]: ...
    def on_error_signal(
        self,
        fn: HandlerT | None = None,
        /,
        *,
        neuron: str | None = None,
        capability: str | None = None,
        trace_id: str | None = None,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        """Decorator (bare or with filters) for ERROR."""
        return self._decorate(SignalType.ERROR, fn, neuron, capability, trace_id)

    def _decorate(
        self,
        kind: SignalType,
        fn: HandlerT | None,
        neuron: str | None,
        capability: str | None,
        trace_id: str | None,
    ) -> HandlerT | Callable[[HandlerT], HandlerT]:
        register: Callable[[HandlerT], HandlerT] = self.on_signal(
            kind, neuron=neuron, capability=capability, trace_id=trace_id
        )
        return register if fn is None else register(fn)
