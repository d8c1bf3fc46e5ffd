"""Namespaces the dev synapse knows of, and their counts (``mgmt_list`` / ``mgmt_info``).

A namespace becomes known when a client registers it (``ns_register``), subscribes inside
it, or publishes in it; ``mgmt_stop`` forgets it. The table is bounded: past
``max_namespaces`` new namespaces are still routed but not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .routing import Entry

__all__ = ["NamespaceTable"]

_MAX_TYPES = 64  # per namespace; Signal types are 31, the rest is counted as "other"


class _Counts:
    __slots__ = ("delivered", "published", "registered", "signals", "transport")

    def __init__(self) -> None:
        self.registered = False
        self.transport: str | None = None
        self.published = 0
        self.delivered = 0
        self.signals: dict[str, int] = {}


class NamespaceTable:
    """Per-namespace registration and traffic counters."""

    def __init__(self, *, max_namespaces: int) -> None:
        self._max = max_namespaces
        self._table: dict[str, _Counts] = {}
        self.untracked = 0
        """Publishes in namespaces that arrived after the table was full."""

    def _get(self, namespace: str) -> _Counts | None:
        counts = self._table.get(namespace)
        if counts is None and len(self._table) < self._max:
            counts = self._table[namespace] = _Counts()
        return counts

    def touch(self, namespace: str) -> None:
        """Make ``namespace`` known (if the table has room)."""
        self._get(namespace)

    def register(self, namespace: str, transport: str) -> None:
        counts = self._get(namespace)
        if counts is not None:
            counts.registered = True
            counts.transport = transport

    def record(self, namespace: str, signal_type: str, delivered: int) -> None:
        """Count one publish in ``namespace`` of ``signal_type`` that reached ``delivered``."""
        counts = self._get(namespace)
        if counts is None:
            self.untracked += 1
            return
        counts.published += 1
        counts.delivered += delivered
        signals = counts.signals
        if signal_type in signals or len(signals) < _MAX_TYPES:
            signals[signal_type] = signals.get(signal_type, 0) + 1
        else:
            signals["other"] = signals.get("other", 0) + 1

    def forget(self, namespace: str) -> None:
        self._table.pop(namespace, None)

    def names(self) -> list[str]:
        """Known namespaces, sorted."""
        return sorted(self._table)

    def info(self, namespace: str, entries: Iterable[Entry]) -> dict[str, Any]:
        """The counts of ``mgmt_ns_info`` (zeros for an unknown namespace).

        ``subscriptions`` and ``subscribers`` count live subscriptions inside the namespace
        and the distinct connections holding them; ``published`` and ``delivered`` count
        frames since the namespace became known; ``signals`` splits ``published`` by the
        subject's type token.
        """
        counts = self._table.get(namespace)
        mine = [e for e in entries if e.namespace == namespace]
        return {
            "registered": counts.registered if counts else False,
            "transport": counts.transport if counts else None,
            "subscriptions": len(mine),
            "subscribers": len({id(e.owner) for e in mine}),
            "published": counts.published if counts else 0,
            "delivered": counts.delivered if counts else 0,
            "signals": dict(counts.signals) if counts else {},
        }
