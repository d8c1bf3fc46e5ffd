"""Prefixed ULIDs: ``evt_`` for Signals, ``trc_`` for traces.

A ULID is 48 bits of milliseconds since the epoch and 80 random bits, written as
26 Crockford base32 characters, so ids sort by creation time. The random part is not
meant to be secret.
"""

from __future__ import annotations

import time
from random import getrandbits

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two base32 characters per table entry: 13 lookups encode all 130 bits.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = tuple(range(120, -10, -10))
_ULID_CHARS = frozenset(_ALPHABET + _ALPHABET.lower())


def new_ulid() -> str:
    """Return a fresh 26-character ULID."""
    n = (time.time_ns() // 1_000_000) << 80 | getrandbits(80)
    pairs = _PAIRS
    return "".join([pairs[(n >> shift) & 0x3FF] for shift in _SHIFTS])


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
