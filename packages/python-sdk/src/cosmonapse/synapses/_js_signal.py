"""The few envelope fields the durable layer reads from a frame (docs/protocol.md
sections 1 and 5), read leniently: a frame that is not a Signal yields ``None``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .._frame_peek import NOT_READ, peek_parent_id

__all__ = ["FrameFields", "frame_fields", "parent_of", "with_host"]


@dataclass(frozen=True, slots=True)
class FrameFields:
    id: str
    trace_id: str
    parent_id: str | None
    neuron: str | None  # directed.id
    role: str | None  # payload.role (REGISTER)
    node: str | None  # meta.node
    attempt: int | None  # meta.attempt
    task: str | None  # meta.task (FINAL)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def frame_fields(data: bytes) -> FrameFields | None:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    signal_id, trace_id = _str(raw.get("id")), _str(raw.get("trace_id"))
    if signal_id is None or trace_id is None:
        return None
    directed = raw.get("directed")
    payload = raw.get("payload")
    meta = raw.get("meta")
    directed = directed if isinstance(directed, dict) else {}
    payload = payload if isinstance(payload, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    attempt = meta.get("attempt")
    return FrameFields(
        id=signal_id,
        trace_id=trace_id,
        parent_id=_str(raw.get("parent_id")),
        neuron=_str(directed.get("id")),
        role=_str(payload.get("role")),
        node=_str(meta.get("node")),
        attempt=attempt if type(attempt) is int else None,
        task=_str(meta.get("task")),
    )


def with_host(data: bytes, node: str | None) -> bytes:
    """The TASK frame with ``meta.host`` naming ``node`` (when it named another host):
    a stored TASK runs on whichever host of its neuron id pulls it."""
    if node is None:
        return data
    raw: Any = orjson.loads(data)
    meta = raw.get("meta") if isinstance(raw, dict) else None
    if not isinstance(meta, dict) or "host" not in meta or meta["host"] == node:
        return data
    meta["host"] = node
    return orjson.dumps(raw)


def parent_of(data: bytes) -> str | None:
    """``parent_id`` of a frame, read without decoding it when the frame settles it
    (:func:`~cosmonapse._frame_peek.peek_parent_id`); otherwise decoded as
    :func:`frame_fields` does."""
    parent = peek_parent_id(data)
    if parent is not NOT_READ:
        return parent
    fields = frame_fields(data)
    return fields.parent_id if fields is not None else None
