"""Reading one field of an encoded Signal without decoding it.

A frame is read this way only where a wrong guess costs nothing but a full decode: each
function answers :data:`NOT_READ` unless the frame settles the question on its own.
"""

from __future__ import annotations

import re

__all__ = ["NOT_READ", "PLAIN_ID", "peek_parent_id"]

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
    at = data.find(_PARENT_KEY)
    if at < 0 or data.find(_PARENT_KEY, at + 1) >= 0:
        return NOT_READ
    size = len(data)
    i = at + len(_PARENT_KEY)
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
