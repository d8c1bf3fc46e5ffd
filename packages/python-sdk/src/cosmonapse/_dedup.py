"""A bounded window of recently seen keys, for dropping redelivered Signals.

Signal ids are unique (docs/protocol.md section 1), so a frame whose id was already seen on the
same subject is a redelivery: a transport or a bridge that duplicated it, a client that
replayed it. The Dendrite keys :class:`SeenWindow` on ``(subject, signal.id)`` and handles
each such key once while it is inside the window.

The window is bounded twice: by ``capacity`` (the oldest key is forgotten once more than
that many are held, so memory never grows past it) and, optionally, by ``max_age_s`` (a
key older than that is forgotten). A forgotten key is accepted again: dedup is a best-effort
filter over a recent horizon, not a permanent record.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable

__all__ = ["DEFAULT_DEDUP_WINDOW", "SeenWindow"]

DEFAULT_DEDUP_WINDOW = 10_000
"""Keys a Dendrite remembers by default."""


class SeenWindow:
    """The last ``capacity`` keys seen (and, with ``max_age_s``, only those younger).

    :meth:`first_sight` is O(1) amortised: one dict lookup and one insert, plus the
    eviction of whatever fell out of the window. ``clock`` (default
    :func:`time.monotonic`) is read only when ``max_age_s`` is set.

    Raises :class:`ValueError` for a ``capacity`` below 1 or a ``max_age_s`` that is not
    positive.
    """

    __slots__ = ("_clock", "_max_age", "_order", "_seen", "capacity")

    def __init__(
        self,
        capacity: int = DEFAULT_DEDUP_WINDOW,
        *,
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_age_s is not None and not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s}")
        self.capacity = capacity
        self._max_age = max_age_s
        self._clock = clock
        # key -> when it was first seen; _order holds the same keys oldest first, so
        # eviction is a popleft (a dict popped from the front degrades on iteration).
        self._seen: dict[Hashable, float] = {}
        self._order: deque[Hashable] = deque()

    def first_sight(self, key: Hashable) -> bool:
        """Record ``key``; True when it was not already inside the window.

        A False answer changes nothing: a redelivery does not refresh its key, so a key
        repeated forever still leaves the window on schedule.
        """
        seen = self._seen
        if self._max_age is None:
            if key in seen:
                return False
            seen[key] = 0.0
        else:
            now = self._clock()
            self._expire(now - self._max_age)
            if key in seen:
                return False
            seen[key] = now
        order = self._order
        order.append(key)
        if len(order) > self.capacity:
            del seen[order.popleft()]
        return True

    def _expire(self, horizon: float) -> None:
        seen, order = self._seen, self._order
        while order and seen[order[0]] <= horizon:
            del seen[order.popleft()]

    def __contains__(self, key: Hashable) -> bool:
        """True when ``key`` is inside the window (no side effect besides expiry)."""
        if self._max_age is not None:
            self._expire(self._clock() - self._max_age)
        return key in self._seen

    def __len__(self) -> int:
        """Keys currently held (never more than ``capacity``)."""
        return len(self._seen)

    def clear(self) -> None:
        """Forget every key."""
        self._seen.clear()
        self._order.clear()

    def __repr__(self) -> str:
        age = f" max_age_s={self._max_age:g}" if self._max_age is not None else ""
        return f"<SeenWindow {len(self)}/{self.capacity}{age}>"
