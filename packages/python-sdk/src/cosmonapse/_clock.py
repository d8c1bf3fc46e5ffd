"""Timestamps for Signals: RFC 3339 in UTC with microseconds, as ``ts`` carries them
(docs/protocol.md section 1)."""

from __future__ import annotations

import time

__all__ = ["now_ts"]

_DIGITS = [f"{n:03d}" for n in range(1000)]  # three digits of the fraction per lookup


class _Clock:
    """RFC 3339 timestamps. The date and time are formatted once a second and the
    milliseconds once a millisecond; a Signal's timestamp then costs two lookups and a
    concatenation, not a number format."""

    __slots__ = ("_ms", "_ms_prefix", "_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._ms = -1
        self._ms_prefix = ""

    def now(self) -> str:
        """The current UTC time as RFC 3339 with microseconds and a ``Z``."""
        us = time.time_ns() // 1000
        ms = us // 1000
        if ms != self._ms:
            second = ms // 1000
            if second != self._second:
                self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
                self._second = second
            self._ms_prefix = self._prefix + _DIGITS[ms - second * 1000]
            self._ms = ms
        return self._ms_prefix + _DIGITS[us - ms * 1000] + "Z"


now_ts = _Clock().now
"""The current UTC time as RFC 3339 with microseconds and a ``Z``."""
