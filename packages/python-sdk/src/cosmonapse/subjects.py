"""Subjects (docs/protocol.md section 3): naming, validation and wildcard matching.

A Signal of type ``T`` in namespace ``N`` travels on ``cosmonapse.N.T``; capability-routed
TASKs on ``cosmonapse.N.TASK.routed``. ``*`` matches exactly one token, ``>`` one or more
trailing tokens. User code never builds subjects by hand: use these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from .exceptions import SubjectError

__all__ = [
    "MAX_NAME_LENGTH",
    "PREFIX",
    "capability_group",
    "is_routed_task_subject",
    "namespace_wildcard",
    "routed_task_subject",
    "signal_subject",
    "subject_matches",
    "validate_namespace",
    "validate_queue_group",
    "validate_subject",
]

PREFIX = "cosmonapse"


def _bad_char(text: str) -> str | None:
    for ch in text:
        if ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F:
            return ch
    return None


MAX_NAME_LENGTH = 1024
"""The longest subject, namespace or queue group accepted, in characters: names are
cached and echoed in errors, so their size is bounded well below the frame limit."""


def _too_long(kind: str, name: str) -> SubjectError:
    return SubjectError(
        f"{kind} is {len(name)} characters long; the limit is {MAX_NAME_LENGTH} "
        f"(it starts {name[:40]!r})"
    )


@lru_cache(maxsize=1024)
def validate_namespace(namespace: str) -> str:
    """Return ``namespace`` if it is a valid subject token, else raise SubjectError."""
    if not isinstance(namespace, str) or not namespace:
        raise SubjectError("namespace must be a non-empty string")
    if len(namespace) > MAX_NAME_LENGTH:
        raise _too_long("namespace", namespace)
    bad = _bad_char(namespace)
    if bad is not None:
        raise SubjectError(
            f"namespace {namespace!r} contains whitespace or a control character ({bad!r})"
        )
    for ch in ".*>":
        if ch in namespace:
            raise SubjectError(f"namespace {namespace!r} must not contain {ch!r}")
    return namespace


@lru_cache(maxsize=4096)
def validate_subject(subject: str, *, wildcards: bool = True) -> str:
    """Return ``subject`` if valid: dot-separated non-empty tokens, no whitespace or
    control characters; ``*`` and ``>`` only as whole tokens (``>`` last), and only when
    ``wildcards`` is true (subscriptions), never in a published subject."""
    if not isinstance(subject, str) or not subject:
        raise SubjectError("subject must be a non-empty string")
    if len(subject) > MAX_NAME_LENGTH:
        raise _too_long("subject", subject)
    bad = _bad_char(subject)
    if bad is not None:
        raise SubjectError(f"subject {subject!r} contains whitespace or a control character")
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token:
            raise SubjectError(f"subject {subject!r} has an empty token")
        if token in ("*", ">"):
            if not wildcards:
                raise SubjectError(f"a published subject may not contain wildcards: {subject!r}")
            if token == ">" and i != len(tokens) - 1:
                raise SubjectError(f"'>' must be the last token of {subject!r}")
        elif "*" in token or ">" in token:
            raise SubjectError(f"wildcards must be whole tokens in {subject!r}")
    return subject


@lru_cache(maxsize=1024)
def validate_queue_group(group: str) -> str:
    """Return ``group`` if it is a non-empty name without whitespace or control characters."""
    if not isinstance(group, str) or not group:
        raise SubjectError("queue group must be a non-empty string")
    if len(group) > MAX_NAME_LENGTH:
        raise _too_long("queue group", group)
    if _bad_char(group) is not None:
        raise SubjectError(f"queue group {group!r} contains whitespace or a control character")
    return group


def signal_subject(namespace: str, signal_type: str) -> str:
    """``cosmonapse.<namespace>.<TYPE>``."""
    return f"{PREFIX}.{validate_namespace(namespace)}.{signal_type}"


def routed_task_subject(namespace: str) -> str:
    """``cosmonapse.<namespace>.TASK.routed``: where capability-routed TASKs travel."""
    return f"{PREFIX}.{validate_namespace(namespace)}.TASK.routed"


def is_routed_task_subject(subject: str) -> bool:
    """True when ``subject`` is a namespace's routed-TASK subject (see
    :func:`routed_task_subject`)."""
    return subject.startswith(PREFIX + ".") and subject.endswith(".TASK.routed")


def namespace_wildcard(namespace: str) -> str:
    """``cosmonapse.<namespace>.>``: everything in a namespace (what a Doppler hears)."""
    return f"{PREFIX}.{validate_namespace(namespace)}.>"


def capability_group(capabilities: Iterable[str]) -> str:
    """The queue group of a capability host: ``caps:`` + sorted capabilities joined by
    ``,`` (duplicates removed)."""
    return "caps:" + ",".join(sorted(set(capabilities)))


@lru_cache(maxsize=8192)
def subject_matches(pattern: str, subject: str) -> bool:
    """True when a subscription ``pattern`` (with ``*`` / ``>``) matches ``subject``."""
    if pattern == subject:
        return True
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, p in enumerate(p_tokens):
        if p == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if p != "*" and p != s_tokens[i]:
            return False
    return len(p_tokens) == len(s_tokens)
