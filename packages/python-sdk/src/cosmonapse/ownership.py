"""Coordination-free ownership: every peer computes the same owner for a trace.

:func:`owner_of` is the quickstart's modulo hash: simple, but adding a peer reassigns most
traces. :class:`HashRing` is consistent hashing with virtual nodes: adding or removing one
of N peers moves only about 1/N of the traces.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence

__all__ = ["HashRing", "owner_of"]


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")


def owner_of(trace_id: str, peers: Sequence[str]) -> str:
    """The peer that owns ``trace_id``: SHA-1 of the id, modulo the number of peers.

    Every peer that knows the same ``peers`` (in the same order) computes the same
    answer. Raises ValueError for an empty pool.
    """
    if not peers:
        raise ValueError("owner_of needs at least one peer")
    h = int(hashlib.sha1(trace_id.encode()).hexdigest(), 16)
    return peers[h % len(peers)]


class HashRing:
    """A consistent-hash ring with ``replicas`` virtual nodes per peer.

    The order in which peers are added does not matter: two rings with the same peers
    agree on every owner.
    """

    def __init__(self, peers: Iterable[str] = (), *, replicas: int = 160) -> None:
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.replicas = replicas
        self._points: list[int] = []
        self._owners: list[str] = []
        self._peers: set[str] = set()
        for peer in peers:
            self.add(peer)

    @property
    def peers(self) -> frozenset[str]:
        return frozenset(self._peers)

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, peer: object) -> bool:
        return peer in self._peers

    def add(self, peer: str) -> None:
        """Add a peer (no-op if present)."""
        if peer in self._peers:
            return
        self._peers.add(peer)
        for i in range(self.replicas):
            point = _hash(f"{peer}#{i}")
            at = bisect.bisect_left(self._points, point)
            # equal points (vanishingly rare) are ordered by peer name for determinism
            while at < len(self._points) and self._points[at] == point and self._owners[at] < peer:
                at += 1
            self._points.insert(at, point)
            self._owners.insert(at, peer)

    def remove(self, peer: str) -> None:
        """Remove a peer (no-op if absent)."""
        if peer not in self._peers:
            return
        self._peers.discard(peer)
        keep = [(p, o) for p, o in zip(self._points, self._owners, strict=True) if o != peer]
        self._points = [p for p, _ in keep]
        self._owners = [o for _, o in keep]

    def owner_of(self, trace_id: str) -> str:
        """The peer owning ``trace_id``. Raises ValueError when the ring is empty."""
        if not self._points:
            raise ValueError("the hash ring has no peers")
        at = bisect.bisect_right(self._points, _hash(trace_id))
        return self._owners[at % len(self._owners)]
