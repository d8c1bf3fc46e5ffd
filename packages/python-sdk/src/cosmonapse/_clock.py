"""Timestamps for Signals: RFC 3339 in UTC with microseconds, as ``ts`` carries them
(docs/protocol.md section 1)."""

from __future__ import annotations

import time

__all__ = ["now_ts"]


class _Clock:
    """RFC 3339 timestamps, formatting the date and time once a second, not once a
    Signal."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        """The current UTC time as RFC 3339 with microseconds and a ``Z``."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"


now_ts = _Clock().now
"""The current UTC time as RFC 3339 with microseconds and a ``Z``."""
