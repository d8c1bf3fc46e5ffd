"""Prefixed ULIDs: ``evt_`` for Signals, ``trc_`` for traces.

A ULID is 48 bits of milliseconds since the epoch and 80 random bits, written as
26 Crockford base32 characters, so ids sort by creation time. Ids made in the same
millisecond by one process are *monotonic*: the first draws 80 fresh random bits and each
later one adds one to them, so they stay unique and ordered, and making one costs a
counter increment and a string concatenation instead of 130 bits of encoding. The random
part is not meant to be secret.
"""

from __future__ import annotations

import os
import time
from random import getrandbits

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two base32 characters per table entry: 10 bits per lookup.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_RANDOM_BITS = 80
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1


def _encode(value: int, shifts: tuple[int, ...]) -> str:
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 0x3FF] for shift in shifts])


_TIME_SHIFTS = (40, 30, 20, 10, 0)  # 48 bits of ms in 10 characters (top 2 bits zero)
_HIGH_SHIFTS = (60, 50, 40, 30, 20, 10, 0)  # bits 10..79 of the random part: 14 characters


class UlidFactory:
    """Makes monotonic ULIDs; everything but the last two characters is cached, so most
    calls cost a counter increment and a string concatenation.

    One factory per process: a forked child resets the process-wide factory (see
    :func:`new_ulid`), so parent and child never continue one random sequence.
    """

    __slots__ = ("_high", "_high_text", "_ms", "_ms_text", "_random")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the cached millisecond and random part: the next id draws fresh bits."""
        self._ms = -1
        self._ms_text = ""
        self._random = 0
        self._high = -1
        self._high_text = ""

    def new(self) -> str:
        """A fresh 26-character ULID (monotonic within a millisecond)."""
        ms = time.time_ns() // 1_000_000
        if ms != self._ms:
            self._ms = ms
            self._ms_text = _encode(ms, _TIME_SHIFTS)
            random = self._random = getrandbits(_RANDOM_BITS)
        else:
            random = self._random = (self._random + 1) & _RANDOM_MASK
        high = random >> 10
        if high != self._high:
            self._high = high
            self._high_text = _encode(high, _HIGH_SHIFTS)
        return self._ms_text + self._high_text + _PAIRS[random & 0x3FF]


_FACTORY = UlidFactory()
os.register_at_fork(after_in_child=_FACTORY.reset)

new_ulid = _FACTORY.new
"""Return a fresh 26-character ULID (monotonic within a millisecond, per process)."""


def random_suffix(length: int = 10) -> str:
    """``length`` random lowercase Crockford base32 characters (for readable node ids)."""
    bits = getrandbits(5 * length)
    return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(length)).lower()


def new_event_id() -> str:
    """Return a new Signal id: ``evt_`` + ULID."""
    return "evt_" + new_ulid()


def new_trace_id() -> str:
    """Return a new trace id: ``trc_`` + ULID."""
    return "trc_" + new_ulid()
