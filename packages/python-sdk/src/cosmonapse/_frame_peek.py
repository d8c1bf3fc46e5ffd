"""Reading one field of an encoded Signal without decoding it.

A frame is read this way only where a wrong guess costs nothing but a full decode: each
function answers :data:`NOT_READ` unless the frame settles the question on its own.
"""

from __future__ import annotations

import re

__all__ = ["NOT_READ", "PLAIN_ID", "first_parent_id", "holds_key_once", "peek_parent_id"]

NOT_READ = "\x00not read"
"""What a peek answers when the frame does not settle it (never a field's value)."""

PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]+\Z")
"""Ids every JSON encoder writes as they are, so their bytes can be looked for in a frame:
no character here is ever escaped (``/``, ``<``, ``>``, ``&`` and non-ASCII may be)."""

_PARENT_KEY = b'"parent_id"'
_SPACE = b" \t\r\n"


def peek_parent_id(data: bytes) -> str | None:
    """``parent_id`` of the Signal encoded in ``data``, read from its bytes when the key
    appears exactly once and its value is ``null`` or a string with no escape in it;
    otherwise :data:`NOT_READ`."""
    parent = first_parent_id(data)
    if parent is NOT_READ or not holds_key_once(data):
        return NOT_READ
    return parent


def holds_key_once(data: bytes) -> bool:
    """True when ``"parent_id"`` appears exactly once in ``data``."""
    at = data.find(_PARENT_KEY)
    return at >= 0 and data.find(_PARENT_KEY, at + 1) < 0


def first_parent_id(data: bytes) -> str | None:
    """The value after the first ``"parent_id"`` in ``data`` (``null`` or a string with no
    escape in it), or :data:`NOT_READ`. Only :func:`holds_key_once` makes it the
    envelope's: a payload could hold the same key."""
    at = data.find(_PARENT_KEY)
    if at < 0:
        return NOT_READ
    i = at + len(_PARENT_KEY)
    if data.startswith(b':"', i):  # the compact form every encoder here writes
        i += 1
    else:
        size = len(data)
        while i < size and data[i] in _SPACE:
            i += 1
        if i >= size or data[i] != 0x3A:  # ":"
            return NOT_READ
        i += 1
        while i < size and data[i] in _SPACE:
            i += 1
        if data.startswith(b"null", i):
            return None
        if not data.startswith(b'"', i):
            return NOT_READ
    end = data.find(b'"', i + 1)
    if end < 0:
        return NOT_READ
    value = data[i + 1 : end]
    if b"\\" in value:
        return NOT_READ
    try:
        return value.decode()
    except UnicodeDecodeError:
        return NOT_READ
