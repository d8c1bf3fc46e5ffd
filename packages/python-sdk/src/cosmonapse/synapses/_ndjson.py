"""Newline-delimited JSON for the dev-synapse client (PROTOCOL.md section 4).

Client lines are built here, byte for byte as the protocol shows them, and server lines
are read here: one bounded line at a time, with a line over the bound skipped whole
rather than ending the connection.
"""

from __future__ import annotations

import asyncio

import orjson

from ..exceptions import EnvelopeError

__all__ = ["HELLO", "PING", "encode", "pub_line", "read_line", "sub_line", "unsub_line"]

HELLO = b'{"op":"hello"}\n'
PING = b'{"op":"ping"}\n'


def encode(op: str, **fields: object) -> bytes:
    """``{"op": op, **fields}`` as one compact line."""
    return orjson.dumps({"op": op, **fields}) + b"\n"


def pub_line(subject: str, data: bytes) -> bytes:
    """A ``pub`` line; the frame travels as a JSON string.

    Raises :class:`~cosmonapse.EnvelopeError` when ``data`` is not UTF-8 text, which is
    all the wire can carry.
    """
    try:
        frame = data.decode() if type(data) is bytes else bytes(data).decode()
    except UnicodeDecodeError as exc:
        raise EnvelopeError(
            f"the dev synapse carries UTF-8 text frames only; byte {exc.start} is not UTF-8"
        ) from None
    return (
        b'{"op":"pub","subject":' + orjson.dumps(subject) + b',"frame":' + orjson.dumps(frame)
    ) + b"}\n"


def sub_line(sub_id: str, subject: str, queue_group: str | None) -> bytes:
    return encode("sub", sub_id=sub_id, subject=subject, queue_group=queue_group)


def unsub_line(sub_id: str) -> bytes:
    return encode("unsub", sub_id=sub_id)


async def read_line(reader: asyncio.StreamReader) -> bytes | None:
    """The next line, newline included, or ``None`` when it was longer than the reader's
    limit (it is then read and discarded in pieces, never held whole).

    Raises :class:`asyncio.IncompleteReadError` at end of stream and the transport's
    :class:`OSError` when the connection fails.
    """
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        consumed = exc.consumed
    while True:
        await reader.readexactly(consumed)  # drop what was scanned
        try:
            await reader.readuntil(b"\n")  # the rest of the line fits: drop it too
            return None
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed
