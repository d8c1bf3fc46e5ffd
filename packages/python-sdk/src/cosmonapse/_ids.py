"""Prefixed ULIDs: ``evt_`` for Signals, ``trc_`` for traces.

A ULID is 48 bits of milliseconds since the epoch and 80 random bits, written as
26 Crockford base32 characters, so ids sort by creation time. Ids made in the same
millisecond by one process are *monotonic*: the first draws 80 fresh random bits and each
later one adds one to them, so they stay unique and ordered, and making one costs a
counter increment and a string concatenation instead of 130 bits of encoding. The random
part is not meant to be secret.
"""

from __future__ import annotations

import time
from random import getrandbits
from typing import Any

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two base32 characters per table entry: 10 bits per lookup.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_RANDOM_BITS = 80
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1
_ULID_CHARS = frozenset(_ALPHABET + _ALPHABET.lower())


def _encode(value: int, shifts: tuple[int, ...]) -> str:
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 0x3FF] for shift in shifts])


_TIME_SHIFTS = (40, 30, 20, 10, 0)  # 48 bits of ms in 10 characters (top 2 bits zero)
_HIGH_SHIFTS = (60, 50, 40, 30, 20, 10, 0)  # bits 10..79 of the random part: 14 characters


_state: list[Any] = [-1, "", 0, -1, ""]  # ms, its text, random part, random >> 10, its text


def new_ulid() -> str:
    """Return a fresh 26-character ULID (monotonic within a millisecond).

    Everything but the last two characters is cached, so most calls cost a counter
    increment and a string concatenation.
    """
    state = _state
    ms = time.time_ns() // 1_000_000
    if ms != state[0]:
        state[0] = ms
        state[1] = _encode(ms, _TIME_SHIFTS)
        random = state[2] = getrandbits(_RANDOM_BITS)
    else:
        random = state[2] = (state[2] + 1) & _RANDOM_MASK
    high = random >> 10
    if high != state[3]:
        state[3] = high
        state[4] = _encode(high, _HIGH_SHIFTS)
    text: str = state[1] + state[4] + _PAIRS[random & 0x3FF]
    return text


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


def is_prefixed_ulid(value: str, prefix: str) -> bool:
    """True when ``value`` is ``prefix`` followed by 26 Crockford base32 characters."""
    return (
        len(value) == len(prefix) + 26
        and value.startswith(prefix)
        and _ULID_CHARS.issuperset(value[len(prefix) :])
    )
