"""Builders for the Signal types this project acts on (docs/protocol.md section 2).

Each returns a ready :class:`~cosmonapse.Signal` with a fresh id and timestamp. Required
payload fields are keyword-only arguments; optional ones are left out of the payload
when not given, except where the protocol states a default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .signal import Directed, Signal, SignalType, directed_from_parts, fresh_signal

__all__ = [
    "agent_output_signal",
    "deregister_signal",
    "discover_signal",
    "error_signal",
    "final_signal",
    "heartbeat_signal",
    "imprint_signal",
    "imprinted_signal",
    "recall_signal",
    "recalled_signal",
    "register_signal",
    "stop_signal",
    "stopped_signal",
    "task_signal",
]


def _meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(meta) if meta else {}


def task_signal(
    *,
    input: Mapping[str, Any],
    neuron: str | None = None,
    capabilities: Iterable[str] | None = None,
    trace_id: str | None = None,
    parent_id: str | None = None,
    context_ref: str | None = None,
    finalize: bool = False,
    meta: Mapping[str, Any] | None = None,
) -> Signal:
    """A TASK addressed to ``neuron`` (an id) or to a set of ``capabilities``."""
    caps = sorted(set(capabilities)) if capabilities else []
    payload: dict[str, Any] = {"input": dict(input)}
    if caps:
        payload["capabilities"] = caps
    if context_ref is not None:
        payload["context_ref"] = context_ref
    if finalize:
        payload["finalize"] = True
    directed = directed_from_parts(neuron, None, caps) if (neuron is not None or caps) else None
    return fresh_signal(
        SignalType.TASK, payload, trace_id, parent_id, directed, dict(meta) if meta else {}
    )


def agent_output_signal(
    task: Signal,
    *,
    output: Mapping[str, Any],
    producer: str,
    meta: Mapping[str, Any] | None = None,
    capabilities: Iterable[str] = (),
) -> Signal:
    """The AGENT_OUTPUT answering ``task``; ``directed.id`` names the ``producer`` and
    ``directed.capabilities`` what it offers."""
    return fresh_signal(
        SignalType.AGENT_OUTPUT,
        {"output": dict(output)},
        task.trace_id,
        task.id,
        directed_from_parts(producer, None, list(capabilities)),
        dict(meta) if meta else {},
    )


def final_signal(
    *,
    trace_id: str,
    parent_id: str | None,
    result: Mapping[str, Any],
    cost: Mapping[str, Any] | None = None,
    producer: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Signal:
    """The FINAL that ends (and commits) a trace."""
    payload: dict[str, Any] = {"result": dict(result)}
    if cost is not None:
        payload["cost"] = dict(cost)
    return fresh_signal(
        SignalType.FINAL,
        payload,
        trace_id,
        parent_id,
        Directed(producer) if producer else None,
        _meta(meta),
    )


def error_signal(
    *,
    trace_id: str,
    parent_id: str | None,
    code: str,
    message: str,
    recoverable: bool = False,
    producer: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Signal:
    """An ERROR on a trace."""
    return fresh_signal(
        SignalType.ERROR,
        {"code": code, "message": message, "recoverable": recoverable},
        trace_id,
        parent_id,
        Directed(producer) if producer else None,
        _meta(meta),
    )


def stop_signal(
    *,
    trace_id: str,
    rollback: bool = False,
    reason: str | None = None,
    producer: str | None = None,
    parent_id: str | None = None,
) -> Signal:
    """A STOP of a whole trace, optionally asking Engrams to roll it back."""
    return Signal(
        type=SignalType.STOP,
        payload={"rollback": rollback, "reason": reason},
        trace_id=trace_id,
        parent_id=parent_id,
        directed=Directed(producer) if producer else None,
    )


def stopped_signal(
    stop: Signal, *, node: str, rolled_back: bool, cancelled: int, compensated: int
) -> Signal:
    """One Dendrite's acknowledgement of ``stop``."""
    return stop.reply(
        SignalType.STOPPED,
        {
            "node": node,
            "rolled_back": rolled_back,
            "cancelled": cancelled,
            "compensated": compensated,
        },
        directed=Directed(node),
    )


def register_signal(
    *,
    participant: str,
    role: str,
    capabilities: Iterable[str] = (),
    version: str | None = None,
    node: str | None = None,
    trace_id: str | None = None,
    parent_id: str | None = None,
) -> Signal:
    """REGISTER of one hosted participant (an Axon's neuron or an Engram)."""
    caps = sorted(set(capabilities))
    payload: dict[str, Any] = {"role": role, "capabilities": caps, "version": version}
    meta = {"node": node} if node else {}
    if trace_id is None:
        return Signal(
            type=SignalType.REGISTER,
            payload=payload,
            parent_id=parent_id,
            directed=Directed(participant, None, caps),
            meta=meta,
        )
    return Signal(
        type=SignalType.REGISTER,
        payload=payload,
        trace_id=trace_id,
        parent_id=parent_id,
        directed=Directed(participant, None, caps),
        meta=meta,
    )


def deregister_signal(*, participant: str, reason: str, node: str | None = None) -> Signal:
    """DEREGISTER of one participant that is going away."""
    return Signal(
        type=SignalType.DEREGISTER,
        payload={"reason": reason},
        directed=Directed(participant),
        meta={"node": node} if node else {},
    )


def heartbeat_signal(
    *,
    participant: str,
    in_flight: int | None = None,
    load: float | None = None,
    node: str | None = None,
) -> Signal:
    """HEARTBEAT of one participant."""
    payload: dict[str, Any] = {"status": "ok"}
    if in_flight is not None:
        payload["in_flight"] = in_flight
    if load is not None:
        payload["load"] = load
    return Signal(
        type=SignalType.HEARTBEAT,
        payload=payload,
        directed=Directed(participant),
        meta={"node": node} if node else {},
    )


def discover_signal(
    *, capabilities: Iterable[str] | None = None, node: str | None = None
) -> Signal:
    """DISCOVER: hosts answer with REGISTER (filtered by ``capabilities`` if given).
    ``node`` names the asking Dendrite in ``meta.node``, so viewers can show who asked."""
    payload: dict[str, Any] = {}
    if capabilities:
        payload["capabilities"] = sorted(set(capabilities))
    return Signal(type=SignalType.DISCOVER, payload=payload, meta={"node": node} if node else {})


def imprint_signal(
    *,
    engram_id: str,
    op: str,
    entry: Mapping[str, Any],
    trace_id: str,
    parent_id: str | None,
    merge_key: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Signal:
    """IMPRINT: a write to the Engram ``engram_id`` under ``trace_id``."""
    payload: dict[str, Any] = {"op": op, "entry": dict(entry)}
    if merge_key is not None:
        payload["merge_key"] = merge_key
    return Signal(
        type=SignalType.IMPRINT,
        payload=payload,
        trace_id=trace_id,
        parent_id=parent_id,
        directed=Directed(engram_id),
        meta=_meta(meta),
    )


def imprinted_signal(
    imprint: Signal,
    *,
    engram_id: str,
    op: str,
    entry_id: str | None,
    version: int,
    took_ms: float,
    error: str | None = None,
) -> Signal:
    """IMPRINTED: the Engram host's answer to ``imprint``."""
    return imprint.reply(
        SignalType.IMPRINTED,
        {
            "engram_id": engram_id,
            "op": op,
            "id": entry_id,
            "version": version,
            "took_ms": took_ms,
            "error": error,
        },
        directed=Directed(engram_id),
    )


def recall_signal(
    *,
    query: Mapping[str, Any],
    trace_id: str,
    parent_id: str | None,
    engram_id: str | None = None,
    engram_kind: str | None = None,
    recall_mode: str = "first",
    filters: Mapping[str, Any] | None = None,
    deadline_ms: int | None = None,
    min_confidence: float | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Signal:
    """RECALL: a query to one Engram by id, or to Engrams of a kind."""
    payload: dict[str, Any] = {
        "query": dict(query),
        "recall_mode": recall_mode,
        "filters": dict(filters) if filters else {},
    }
    if deadline_ms is not None:
        payload["deadline_ms"] = deadline_ms
    if min_confidence is not None:
        payload["min_confidence"] = min_confidence
    return Signal(
        type=SignalType.RECALL,
        payload=payload,
        trace_id=trace_id,
        parent_id=parent_id,
        directed=Directed(engram_id, engram_kind),
        meta=_meta(meta),
    )


def recalled_signal(
    recall: Signal,
    *,
    engram_id: str,
    hits: list[dict[str, Any]],
    took_ms: float,
    truncated: bool = False,
    error: str | None = None,
) -> Signal:
    """RECALLED: the Engram host's answer to ``recall``."""
    return recall.reply(
        SignalType.RECALLED,
        {
            "engram_id": engram_id,
            "hits": hits,
            "truncated": truncated,
            "took_ms": took_ms,
            "error": error,
        },
        directed=Directed(engram_id),
    )
