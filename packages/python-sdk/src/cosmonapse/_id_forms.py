"""The forms of ids and timestamps in a Signal envelope (docs/protocol.md section 1), and
the strings already known to have them.

An event id is ``evt_`` and a trace id ``trc_``, each followed by a 26-character ULID; a
timestamp is RFC 3339 in UTC. Matching a regex costs far more than looking a string up in
a set, and most ids a process checks are ones it made itself or saw a moment ago (a
reply's trace and parent), so the strings this process made (``fresh_signal``) or already
matched are kept in one set per form. Each set is cleared when it reaches
:data:`KNOWN_LIMIT`, so none holds more than that.
"""

from __future__ import annotations

import re

_ULID = "[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}"
EVENT_ID_RE = re.compile(rf"evt_{_ULID}\Z")
TRACE_ID_RE = re.compile(rf"trc_{_ULID}\Z")
# [0-9], not \d: \d also matches non-ASCII digits, and is slower.
TS_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-]00:00)\Z"
)
_match_event_id = EVENT_ID_RE.match
_match_trace_id = TRACE_ID_RE.match
_match_ts = TS_RE.match

KNOWN_LIMIT = 4096
known_event_ids: set[str] = set()
known_trace_ids: set[str] = set()
known_ts: set[str] = set()


def remember(known: set[str], value: str) -> None:
    """Add ``value`` to ``known`` (one of the sets here), clearing it first when full."""
    if len(known) >= KNOWN_LIMIT:
        known.clear()
    known.add(value)


def matches_event_id(value: str) -> bool:
    """``value`` (a str) is an event id, by the regex; remembered when it is."""
    if _match_event_id(value) is None:
        return False
    remember(known_event_ids, value)
    return True


def matches_trace_id(value: str) -> bool:
    """``value`` (a str) is a trace id, by the regex; remembered when it is."""
    if _match_trace_id(value) is None:
        return False
    remember(known_trace_ids, value)
    return True


def matches_ts(value: str) -> bool:
    """``value`` (a str) is a timestamp, by the regex; remembered when it is."""
    if _match_ts(value) is None:
        return False
    remember(known_ts, value)
    return True


def is_event_id(value: object) -> bool:
    """True when ``value`` is an event id: ``evt_`` followed by a 26-character ULID."""
    return type(value) is str and (value in known_event_ids or matches_event_id(value))


def is_trace_id(value: object) -> bool:
    """True when ``value`` is a trace id: ``trc_`` followed by a 26-character ULID."""
    return type(value) is str and (value in known_trace_ids or matches_trace_id(value))
