"""OTel ids from Cosmonapse ids, the same in every process (no header propagation).

* trace id: the 128 bits of the trace's ULID (``trc_`` + 26 Crockford base32 chars);
* span id: the first 8 bytes of BLAKE2b(``"<role>:<signal id>"``) with a digest size of 8,
  read big-endian (a zero result, never seen in practice, becomes 1). ``role`` tells the spans
  of one Signal apart: the ``dispatch`` and the ``run`` of one TASK, ``imprint``/``recall``
  of an IMPRINT/RECALL, ``stop`` of a STOP.
"""

from __future__ import annotations

import functools
import hashlib

__all__ = [
    "SPAN_ROLES",
    "dispatch_span_id",
    "otel_span_id",
    "otel_trace_id",
    "run_span_id",
    "ulid_value",
]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DIGITS = {c: i for i, c in enumerate(_CROCKFORD)} | {
    c.lower(): i for i, c in enumerate(_CROCKFORD)
}
# Crockford's aliases: O reads as 0, I and L as 1.
_DIGITS.update({"O": 0, "o": 0, "I": 1, "i": 1, "L": 1, "l": 1})

SPAN_ROLES = frozenset({"dispatch", "run", "imprint", "recall", "stop", "stopped"})
"""The span roles :func:`otel_span_id` takes."""


def ulid_value(text: str) -> int:
    """The integer of a ULID, with or without a ``trc_`` / ``evt_`` style prefix.

    Raises ValueError for anything that is not 26 Crockford base32 chars fitting 128 bits.
    """
    body = text.rsplit("_", 1)[-1]
    if len(body) != 26:
        raise ValueError(f"not a ULID: {text!r} (expected 26 Crockford base32 chars)")
    value = 0
    for char in body:
        digit = _DIGITS.get(char)
        if digit is None:
            raise ValueError(f"not a ULID: {text!r} ({char!r} is not Crockford base32)")
        value = value * 32 + digit
    if value >> 128:
        raise ValueError(f"not a ULID: {text!r} (more than 128 bits)")
    return value


def otel_trace_id(trace_id: str) -> int:
    """The OTel trace id of a Cosmonapse trace: its ULID's 128 bits (never 0)."""
    return _trace_id(trace_id)


@functools.lru_cache(maxsize=4096)  # a trace's spans ask for its id again and again
def _trace_id(trace_id: str) -> int:
    value = ulid_value(trace_id)
    if value == 0:
        raise ValueError(f"{trace_id!r} is the zero ULID, which OpenTelemetry calls invalid")
    return value


def otel_span_id(signal_id: str, role: str) -> int:
    """The 64-bit span id of the ``role`` span of the Signal ``signal_id`` (never 0)."""
    if role not in SPAN_ROLES:
        raise ValueError(f"unknown span role {role!r}; expected one of {sorted(SPAN_ROLES)}")
    digest = hashlib.blake2b(f"{role}:{signal_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


def dispatch_span_id(task_id: str) -> int:
    """The span id of the dispatch of TASK ``task_id`` (on the process that sent it)."""
    return otel_span_id(task_id, "dispatch")


def run_span_id(task_id: str) -> int:
    """The span id of the run of TASK ``task_id`` (on the process that ran it)."""
    return otel_span_id(task_id, "run")
