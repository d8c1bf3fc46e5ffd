"""How a Neuron reaches Engrams: bindings on the Axon and the helpers they inject.

An Axon lists :class:`EngramBinding` s. A Neuron that declares keyword-only parameters
``imprint`` and/or ``recall`` gets helpers bound to the TASK's trace::

    async def ingest(input, context, *, imprint):
        await imprint("vectors", op="upsert", entry={...}, merge_key="doc:0")

Only bound names work; each call has a deadline and raises a clear error on timeout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .builders import imprint_signal, recall_signal
from .exceptions import EngramError, UnknownEngramBindingError
from .signal import Signal

__all__ = ["EngramBinding", "ImprintHelper", "RecallHelper"]


@dataclass(slots=True, frozen=True)
class EngramBinding:
    """Binds the name a Neuron uses to an Engram on the bus, by id or by kind."""

    name: str
    directed_id: str | None = None
    directed_type: str | None = None
    default_deadline_ms: int = 2000

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("EngramBinding needs a name")
        if (self.directed_id is None) == (self.directed_type is None):
            raise ValueError(
                f"EngramBinding {self.name!r} needs exactly one of directed_id or directed_type"
            )
        if self.default_deadline_ms <= 0:
            raise ValueError("default_deadline_ms must be positive")


class EngramTransport(Protocol):
    """How the helpers reach Engrams: the hosting Dendrite's engram requests."""

    async def request(
        self, signal: Signal, *, deadline_s: float, await_reply: bool
    ) -> Signal | None: ...


def _binding(bindings: Mapping[str, EngramBinding], name: str) -> EngramBinding:
    binding = bindings.get(name)
    if binding is None:
        known = ", ".join(sorted(bindings)) or "none"
        raise UnknownEngramBindingError(
            f"this Axon has no Engram bound as {name!r} (bound: {known}); add "
            f"EngramBinding(name={name!r}, ...) to its engrams"
        )
    return binding


class _BoundHelper:
    """What both helpers hold: the hosting transport, the Axon's bindings, and the TASK
    whose trace every request joins."""

    __slots__ = ("_bindings", "_parent", "_trace", "_transport")

    def __init__(
        self,
        transport: EngramTransport | None,
        bindings: Mapping[str, EngramBinding],
        task: Signal,
    ) -> None:
        self._transport = transport
        self._bindings = bindings
        self._trace = task.trace_id
        self._parent = task.id


class ImprintHelper(_BoundHelper):
    """``await imprint(name, op=, entry=, merge_key=, await_ack=True, deadline_ms=None)``.

    Returns the IMPRINTED payload when ``await_ack`` (raising
    :class:`~cosmonapse.EngramError` with the Engram's reason on failure and
    :class:`~cosmonapse.EngramTimeoutError` past the deadline), else None right after
    publishing.
    """

    __slots__ = ()

    async def __call__(
        self,
        name: str,
        *,
        op: str,
        entry: Mapping[str, Any] | None = None,
        merge_key: str | None = None,
        await_ack: bool = True,
        deadline_ms: int | None = None,
    ) -> dict[str, Any] | None:
        binding = _binding(self._bindings, name)
        if binding.directed_id is None:
            raise EngramError(
                f"imprint needs an Engram bound by id; {name!r} is bound by kind "
                f"{binding.directed_type!r}"
            )
        transport = _require(self._transport)
        signal = imprint_signal(
            engram_id=binding.directed_id,
            op=op,
            entry=entry or {},
            merge_key=merge_key,
            trace_id=self._trace,
            parent_id=self._parent,
        )
        deadline = (deadline_ms or binding.default_deadline_ms) / 1000
        reply = await transport.request(signal, deadline_s=deadline, await_reply=await_ack)
        if reply is None:
            return None
        error = reply.payload.get("error")
        if error:
            raise EngramError(f"engram {binding.directed_id!r} refused {op}: {error}")
        return reply.payload


class RecallHelper(_BoundHelper):
    """``await recall(name, query=, top_k=None, filters=None, min_confidence=None,
    recall_mode="first", deadline_ms=None)`` returning the hits (list of dicts with
    ``id``, ``entry``, ``score``)."""

    __slots__ = ()

    async def __call__(
        self,
        name: str,
        *,
        query: Mapping[str, Any] | None = None,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        min_confidence: float | None = None,
        recall_mode: str = "first",
        deadline_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        binding = _binding(self._bindings, name)
        transport = _require(self._transport)
        body = dict(query or {})
        if top_k is not None:
            body["top_k"] = top_k
        deadline_ms = deadline_ms or binding.default_deadline_ms
        signal = recall_signal(
            query=body,
            trace_id=self._trace,
            parent_id=self._parent,
            engram_id=binding.directed_id,
            engram_kind=binding.directed_type,
            recall_mode=recall_mode,
            filters=filters,
            deadline_ms=deadline_ms,
            min_confidence=min_confidence,
        )
        reply = await transport.request(signal, deadline_s=deadline_ms / 1000, await_reply=True)
        assert reply is not None
        error = reply.payload.get("error")
        if error:
            raise EngramError(f"engram {reply.neuron or name!r} failed the recall: {error}")
        hits = reply.payload.get("hits")
        return list(hits) if isinstance(hits, Sequence) else []


def _require(transport: EngramTransport | None) -> EngramTransport:
    if transport is None:
        raise EngramError(
            "this Axon is not attached to a Dendrite, so its Neuron cannot reach Engrams; "
            "use dendrite.attach_axon(axon)"
        )
    return transport
