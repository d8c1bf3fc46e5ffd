"""A bounded memory of recent keys, for deduplication by Signal id (docs/transports/nats.md,
"Durable work"): the oldest key is forgotten once ``limit`` are held."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["SeenWindow"]

V = TypeVar("V")


class SeenWindow(Generic[V]):
    """``key -> value`` for the last ``limit`` keys added (insertion order)."""

    __slots__ = ("_items", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a window holds at least one key")
        self.limit = limit
        self._items: OrderedDict[str, V] = OrderedDict()

    def add(self, key: str, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
