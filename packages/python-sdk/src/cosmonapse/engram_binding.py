"""How a Neuron reaches Engrams: bindings on the Axon and the helpers they inject.

An Axon lists :class:`EngramBinding` s. A Neuron that declares keyword-only parameters
``imprint`` and/or ``recall`` gets helpers bound to the TASK's trace::

    async def ingest(input, context, *, imprint):
        await imprint("vectors", op="upsert", entry={...}, merge_key="doc:0")

Only bound names work; each call waits at most ``timeout_s`` seconds for the Engram's
answer and raises a clear error on timeout. They return the types the Engram itself
returns: an :class:`~cosmonapse.ImprintResult`, a list of :class:`~cosmonapse.Hit`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._deprecation import warn_deprecated
from ._engram_results import Hit, ImprintResult
from .builders import imprint_signal, recall_signal
from .exceptions import EngramError, UnknownEngramBindingError
from .signal import Signal

__all__ = ["EngramBinding", "ImprintHelper", "RecallHelper"]

DEFAULT_TIMEOUT_S = 2.0


@dataclass(slots=True, frozen=True, init=False)
class EngramBinding:
    """Binds the name a Neuron uses to an Engram on the bus, by id or by kind.

    ``default_timeout_s`` (seconds, default 2.0) is how long one ``imprint`` / ``recall``
    waits for the Engram's answer when the call gives no ``timeout_s``.
    ``default_deadline_ms`` (milliseconds) is its deprecated spelling.
    """

    name: str
    directed_id: str | None
    directed_type: str | None
    default_timeout_s: float

    def __init__(
        self,
        name: str,
        directed_id: str | None = None,
        directed_type: str | None = None,
        default_timeout_s: float | None = None,
        *,
        default_deadline_ms: int | None = None,
    ) -> None:
        if not name:
            raise ValueError("EngramBinding needs a name")
        if (directed_id is None) == (directed_type is None):
            raise ValueError(
                f"EngramBinding {name!r} needs exactly one of directed_id or directed_type"
            )
        if default_deadline_ms is not None:
            if default_timeout_s is not None:
                raise TypeError("pass default_timeout_s or default_deadline_ms, not both")
            _milliseconds(default_deadline_ms, "default_deadline_ms")
            warn_deprecated(
                "EngramBinding(default_deadline_ms=...) is deprecated; pass default_timeout_s= "
                f"in seconds (default_timeout_s={default_deadline_ms / 1000:g})",
                stacklevel=2,
            )
            default_timeout_s = default_deadline_ms / 1000
        timeout = DEFAULT_TIMEOUT_S if default_timeout_s is None else default_timeout_s
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "directed_id", directed_id)
        object.__setattr__(self, "directed_type", directed_type)
        object.__setattr__(self, "default_timeout_s", _seconds(timeout, "default_timeout_s"))

    @property
    def default_deadline_ms(self) -> int:
        """Deprecated: ``default_timeout_s`` in milliseconds."""
        warn_deprecated(
            "EngramBinding.default_deadline_ms is deprecated; read default_timeout_s (seconds)",
            stacklevel=2,
        )
        return round(self.default_timeout_s * 1000)


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


def _milliseconds(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of milliseconds, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of milliseconds, not {value!r}")


def _call_timeout(
    binding: EngramBinding, timeout_s: float | None, deadline_ms: int | None, call: str
) -> float:
    """The seconds one helper call waits: ``timeout_s``, the deprecated ``deadline_ms``
    (warned about at the Neuron's line: two frames up), else the binding's default."""
    if deadline_ms is not None:
        if timeout_s is not None:
            raise TypeError(f"{call}: pass timeout_s or deadline_ms, not both")
        if not deadline_ms:  # as before: 0 meant the binding's default
            deadline_ms = round(binding.default_timeout_s * 1000)
        _milliseconds(deadline_ms, "deadline_ms")
        warn_deprecated(
            f"{call}(deadline_ms=...) is deprecated; pass timeout_s= in seconds "
            f"(timeout_s={deadline_ms / 1000:g})",
            stacklevel=3,
        )
        return deadline_ms / 1000
    if timeout_s is None:
        return binding.default_timeout_s
    return _seconds(timeout_s, "timeout_s")


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
    """``await imprint(name, op=, entry=, merge_key=, await_ack=True, timeout_s=None)``.

    Returns the :class:`~cosmonapse.ImprintResult` of the write when ``await_ack`` (the
    same the Engram's own ``imprint`` returns), raising :class:`~cosmonapse.EngramError`
    with the Engram's reason on failure and :class:`~cosmonapse.EngramTimeoutError` after
    ``timeout_s`` seconds (default: the binding's ``default_timeout_s``); else None right
    after publishing. ``deadline_ms=`` is the deprecated spelling of ``timeout_s``.
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
        timeout_s: float | None = None,
        deadline_ms: int | None = None,
    ) -> ImprintResult | None:
        binding = _binding(self._bindings, name)
        timeout = _call_timeout(binding, timeout_s, deadline_ms, "imprint")
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
        reply = await transport.request(signal, deadline_s=timeout, await_reply=await_ack)
        if reply is None:
            return None
        payload = reply.payload
        error = payload.get("error")
        if error:
            raise EngramError(f"engram {binding.directed_id!r} refused {op}: {error}")
        entry_id, version = payload.get("id"), payload.get("version")
        if not (entry_id is None or isinstance(entry_id, str)) or type(version) is not int:
            raise EngramError(f"engram {binding.directed_id!r} sent a malformed IMPRINTED")
        return ImprintResult(entry_id, version, str(payload.get("op") or op))


class RecallHelper(_BoundHelper):
    """``await recall(name, query=, top_k=None, filters=None, min_confidence=None,
    recall_mode="first", timeout_s=None)`` returning the :class:`~cosmonapse.Hit` s, best
    first (the same the Engram's own ``recall`` returns). ``deadline_ms=`` is the
    deprecated spelling of ``timeout_s``."""

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
        timeout_s: float | None = None,
        deadline_ms: int | None = None,
    ) -> list[Hit]:
        binding = _binding(self._bindings, name)
        timeout = _call_timeout(binding, timeout_s, deadline_ms, "recall")
        transport = _require(self._transport)
        body = dict(query or {})
        if top_k is not None:
            body["top_k"] = top_k
        signal = recall_signal(
            query=body,
            trace_id=self._trace,
            parent_id=self._parent,
            engram_id=binding.directed_id,
            engram_kind=binding.directed_type,
            recall_mode=recall_mode,
            filters=filters,
            deadline_ms=max(1, round(timeout * 1000)),  # the wire counts milliseconds
            min_confidence=min_confidence,
        )
        reply = await transport.request(signal, deadline_s=timeout, await_reply=True)
        assert reply is not None
        error = reply.payload.get("error")
        source = reply.neuron or name
        if error:
            raise EngramError(f"engram {source!r} failed the recall: {error}")
        hits = reply.payload.get("hits")
        if not isinstance(hits, Sequence):
            return []
        return [_hit(raw, source) for raw in hits]


def _hit(raw: object, source: str) -> Hit:
    if isinstance(raw, Mapping):
        entry_id, entry, score = raw.get("id"), raw.get("entry"), raw.get("score")
        if (
            isinstance(entry_id, str)
            and isinstance(entry, dict)
            and isinstance(score, int | float)
            and not isinstance(score, bool)
        ):
            return Hit(entry_id, entry, float(score))
    raise EngramError(f"engram {source!r} sent a malformed hit: {raw!r:.200}")


def _require(transport: EngramTransport | None) -> EngramTransport:
    if transport is None:
        raise EngramError(
            "this Axon is not attached to a Dendrite, so its Neuron cannot reach Engrams; "
            "use dendrite.attach_axon(axon)"
        )
    return transport
