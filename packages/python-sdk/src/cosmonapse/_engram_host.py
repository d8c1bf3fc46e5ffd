"""How a Dendrite answers IMPRINT and RECALL for the Engrams it hosts.

Pure functions from a request to its answer: the Dendrite publishes what they return.
An Engram that raises answers with ``error`` on the reply, never with silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from .builders import imprinted_signal, recalled_signal
from .engram import Engram
from .exceptions import EngramError
from .signal import Signal

log = logging.getLogger("cosmonapse.engram")


def answer_imprint(engram: Engram, imprint: Signal, node: str) -> Signal:
    """Apply ``imprint`` to ``engram`` and build the IMPRINTED reply."""
    started = time.perf_counter()
    op = str(imprint.payload.get("op"))
    entry_id: str | None = None
    error: str | None = None
    try:
        entry = imprint.payload.get("entry")
        merge_key = imprint.payload.get("merge_key")
        if entry is not None and not isinstance(entry, dict):
            raise EngramError("payload.entry must be an object")
        if merge_key is not None and not isinstance(merge_key, str):
            raise EngramError("payload.merge_key must be a string")
        result = engram.imprint(
            op=op,
            entry=entry,
            merge_key=merge_key,
            trace_id=imprint.trace_id,
            imprint_id=imprint.id,
        )
        entry_id = result.id
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        if not isinstance(exc, EngramError):
            log.error("engram %s raised on %s: %r", engram.engram_id, op, exc, exc_info=exc)
    reply = imprinted_signal(
        imprint,
        engram_id=engram.engram_id,
        op=op,
        entry_id=entry_id,
        version=engram.version,
        took_ms=round((time.perf_counter() - started) * 1000, 3),
        error=error,
    )
    reply.meta["node"] = node
    return reply


def recall_targets(engrams: dict[str, Engram], recall: Signal) -> list[Engram]:
    """The hosted Engrams a RECALL addresses: by ``directed.id``, else by kind."""
    directed = recall.directed
    if directed is None:
        return []
    if directed.id is not None:
        found = engrams.get(directed.id)
        return [found] if found is not None else []
    return [e for e in engrams.values() if e.engram_kind == directed.type]


def answer_recall(targets: Iterable[Engram], recall: Signal, node: str) -> list[Signal]:
    """Run ``recall`` on each target and build one RECALLED per Engram."""
    replies = []
    for engram in targets:
        started = time.perf_counter()
        hits: list[dict[str, Any]] = []
        error: str | None = None
        try:
            query = recall.payload.get("query") or {}
            filters = recall.payload.get("filters") or {}
            if not isinstance(query, dict) or not isinstance(filters, dict):
                raise EngramError("payload.query and payload.filters must be objects")
            min_conf = recall.payload.get("min_confidence")
            confidence = float(min_conf) if isinstance(min_conf, (int, float)) else None
            found = engram.recall(query, filters=filters, min_confidence=confidence)
            hits = [h.to_dict() for h in found]
        except Exception as exc:
            error = str(exc) or type(exc).__name__
        reply = recalled_signal(
            recall,
            engram_id=engram.engram_id,
            hits=hits,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
            error=error,
        )
        reply.meta["node"] = node
        replies.append(reply)
    return replies
