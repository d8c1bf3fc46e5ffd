"""The Axon: one Neuron, wrapped so that a TASK goes in and a reply Signal comes out."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

from .builders import agent_output_signal, error_signal
from .context import NeuronContext
from .delegation import CallHelper, Delegator
from .engram_binding import EngramBinding, EngramTransport, ImprintHelper, RecallHelper
from .exceptions import NeuronError
from .signal import Signal, SignalType

__all__ = ["Axon", "NeuronFn"]

log = logging.getLogger("cosmonapse.axon")


class NeuronFn(Protocol):
    """A Neuron: ``async def neuron(input, context, *, imprint=..., recall=...) -> dict``.

    Any async function (or object with an async ``__call__``) that takes the TASK's input
    and a :class:`~cosmonapse.NeuronContext` positionally and returns a mapping (its
    output) satisfies it, with or without the keyword-only helpers (``imprint``,
    ``recall``: the Axon passes those the function declares). The ``*args: Any, **helpers:
    Any`` tail leaves the rest of the signature open to a type checker.
    """

    def __call__(
        self, input: dict[str, Any], context: NeuronContext, /, *args: Any, **helpers: Any
    ) -> Awaitable[Mapping[str, Any]]: ...


_INJECTABLE = ("imprint", "recall", "call")


@dataclass(frozen=True, slots=True)
class AxonHost:
    """What a hosting Dendrite hands each run: its id (``node``), its namespace, the way
    to Engrams for the ``imprint`` / ``recall`` helpers and to other agents for ``call``."""

    node: str
    namespace: str
    engrams: EngramTransport
    delegate: Delegator | None = None


def _add_usage(context: NeuronContext, meta: dict[str, Any]) -> None:
    tokens = context.usage.get("tokens")
    if tokens:
        meta["tokens"] = tokens


def _wanted_helpers(fn: Callable[..., Any]) -> frozenset[str]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return frozenset()
    return frozenset(
        name
        for name in _INJECTABLE
        if name in params and params[name].kind is inspect.Parameter.KEYWORD_ONLY
    )


class Axon:
    """Wraps a Neuron ``neuron_fn`` under the id ``neuron_id``.

    :meth:`handle_task` runs the Neuron on a TASK and returns the AGENT_OUTPUT, or an
    ERROR when it raises (``NEURON_EXCEPTION``, or the code a
    :class:`~cosmonapse.NeuronError` carries). Keyword-only parameters ``imprint`` and
    ``recall`` of the Neuron are injected, bound to the TASK's trace, and reach only the
    Engrams listed in ``engrams`` (through the hosting Dendrite).
    """

    def __init__(
        self,
        neuron_id: str,
        neuron_fn: NeuronFn,
        capabilities: Iterable[str] = (),
        engrams: Iterable[EngramBinding] = (),
        *,
        version: str | None = None,
    ) -> None:
        if not neuron_id or not isinstance(neuron_id, str):
            raise ValueError("neuron_id must be a non-empty string")
        if not callable(neuron_fn):
            raise TypeError(f"neuron_fn must be an async callable, got {type(neuron_fn).__name__}")
        self.neuron_id = neuron_id
        self.neuron_fn = neuron_fn
        caps = set(capabilities)
        if any(type(capability) is not str for capability in caps):
            raise TypeError(f"capabilities must be strings, got {sorted(map(repr, caps))}")
        self.capabilities = sorted(caps)
        self.version = version
        bindings = list(engrams)
        self.engrams: dict[str, EngramBinding] = {b.name: b for b in bindings}
        if len(self.engrams) != len(bindings):
            raise ValueError("two EngramBindings share a name")
        self._helpers = _wanted_helpers(neuron_fn)

    def covers(self, capabilities: Iterable[str]) -> bool:
        """True when this Axon offers every capability asked for."""
        return set(capabilities).issubset(self.capabilities)

    async def handle_task(self, task: Signal, host: AxonHost | None = None) -> Signal:
        """Run the Neuron on ``task``; return its AGENT_OUTPUT or an ERROR Signal.

        ``host`` is given by the Dendrite running it (None for a run outside any
        Dendrite: the Neuron then cannot reach Engrams). Never raises for a Neuron
        failure; cancellation propagates (a STOPped run produces no reply).
        """
        if task.type is not SignalType.TASK:
            raise ValueError(f"handle_task needs a TASK, got {task.type.value}")
        started = perf_counter()
        meta: dict[str, Any] = {}
        attempt = task.meta.get("attempt")
        if attempt is not None:
            meta["attempt"] = attempt
        if host is None:
            context = NeuronContext(task, self.neuron_id)
            engrams: EngramTransport | None = None
        else:
            context = NeuronContext(task, self.neuron_id, host.node, host.namespace)
            engrams = host.engrams
            meta["node"] = host.node
        neuron_input = task.payload.get("input")
        if neuron_input is None:
            neuron_input = {}
        try:
            if self._helpers:
                kwargs: dict[str, Any] = {}
                if "imprint" in self._helpers:
                    kwargs["imprint"] = ImprintHelper(engrams, self.engrams, task)
                if "recall" in self._helpers:
                    kwargs["recall"] = RecallHelper(engrams, self.engrams, task)
                if "call" in self._helpers:
                    kwargs["call"] = CallHelper(host.delegate if host else None, task)
                output = await self.neuron_fn(neuron_input, context, **kwargs)
            else:
                output = await self.neuron_fn(neuron_input, context)
        except asyncio.CancelledError:
            raise
        except NeuronError as exc:
            if exc.retry_after_s is not None:
                meta["retry_after_s"] = exc.retry_after_s
            _add_usage(context, meta)
            return self._error(task, exc.code, str(exc), exc.recoverable, meta)
        except Exception as exc:
            _add_usage(context, meta)
            log.warning("neuron %s raised %s: %s", self.neuron_id, type(exc).__name__, exc)
            return self._error(
                task,
                "NEURON_EXCEPTION",
                f"{type(exc).__name__}: {exc}",
                isinstance(exc, TimeoutError),
                meta,
            )
        if type(output) is not dict and not isinstance(output, Mapping):
            return self._error(
                task,
                "NEURON_BAD_OUTPUT",
                f"neuron {self.neuron_id!r} returned {type(output).__name__}, expected a dict",
                False,
                meta,
            )
        meta["took_ms"] = round((perf_counter() - started) * 1000, 3)
        if context.usage:
            _add_usage(context, meta)
        return agent_output_signal(
            task,
            output=output,
            producer=self.neuron_id,
            meta=meta,
            capabilities=self.capabilities,
        )

    def _error(
        self, task: Signal, code: str, message: str, recoverable: bool, meta: dict[str, Any]
    ) -> Signal:
        return error_signal(
            trace_id=task.trace_id,
            parent_id=task.id,
            code=code,
            message=message,
            recoverable=recoverable,
            producer=self.neuron_id,
            meta=meta,
        )

    async def aclose(self) -> None:
        """Close the Neuron if it holds resources (calls its ``aclose()`` when it has one)."""
        closer = getattr(self.neuron_fn, "aclose", None)
        if closer is not None:
            await closer()

    def __repr__(self) -> str:
        return f"<Axon {self.neuron_id!r} capabilities={self.capabilities}>"
