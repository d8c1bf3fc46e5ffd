"""Newline-delimited JSON for the dev-synapse client (docs/protocol.md section 4).

Client lines are built here, byte for byte as the protocol shows them, and server lines
are read here: one bounded line at a time, with a line over the bound skipped whole
rather than ending the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson

from ..exceptions import EnvelopeError

__all__ = [
    "HELLO",
    "PING",
    "LineBatcher",
    "LineSplitter",
    "encode",
    "lines_per_turn",
    "pub_line",
    "read_line",
    "sub_line",
    "unsub_line",
]

READ_CHUNK = 256 * 1024
"""Bytes asked of the socket per read: many lines per wake-up when traffic is busy."""

LINES_PER_TURN = 32
"""The most lines a client read loop handles before it hands the event loop back; a chunk
of more than 4 lines is also cut in half at least. What the handled lines started (Neuron
runs, replies, their write) goes on while the rest wait, so a busy burst moves through the
caller, the server and the worker in pieces that overlap instead of as one convoy that
keeps a single process busy at a time (docs/benchmarks.md)."""


def lines_per_turn(lines: int) -> int:
    """How many of a chunk's ``lines`` a read loop handles per event-loop turn."""
    return min(LINES_PER_TURN, max(4, (lines + 1) // 2))


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
    return b"".join(
        (
            b'{"op":"pub","subject":',
            orjson.dumps(subject),
            b',"frame":',
            orjson.dumps(frame),
            b"}\n",
        )
    )


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


class LineSplitter:
    """Cuts a byte stream into lines (without their ``\\n``), never holding more than
    ``limit`` bytes of an unfinished line.

    Each byte is scanned once: the pieces of an unfinished line are kept as they came
    and joined once, when its end arrives, so a long line costs linear time whatever the
    chunk size. A line longer than ``limit`` is dropped whole, however many chunks it
    spans, and counted in :attr:`oversized`; the lines around it are unaffected.
    """

    __slots__ = ("_parts", "_pending", "_skipping", "limit", "oversized")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.oversized = 0
        self._parts: list[bytes] = []  # the unfinished line, in pieces
        self._pending = 0
        self._skipping = False  # inside a line already known to be too long

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines ``chunk`` finishes, in order."""
        limit = self.limit
        end = chunk.find(b"\n")
        if end < 0:  # no line ends here: hold the piece (or drop it, past the limit)
            if not self._skipping:
                self._pending += len(chunk)
                if self._pending > limit:
                    self._drop_unfinished()
                else:
                    self._parts.append(chunk)
            return []
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if self._skipping:  # the first piece ends the line that was too long
            lines.pop(0)
            self._skipping = False
        elif self._parts:
            self._parts.append(lines[0])
            lines[0] = b"".join(self._parts)
        self._parts = []
        self._pending = 0
        if rest:
            self._pending = len(rest)
            if self._pending > limit:
                self._drop_unfinished()
            else:
                self._parts.append(rest)
        for line in lines:
            if len(line) > limit:  # rare: filter the whole batch
                kept = [line for line in lines if len(line) <= limit]
                self.oversized += len(lines) - len(kept)
                return kept
        return lines

    def _drop_unfinished(self) -> None:
        self.oversized += 1
        self._skipping = True
        self._parts = []
        self._pending = 0

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held."""
        return self._pending


class LineBatcher:
    """Lines queued in one event-loop iteration leave in one ``write``, at the end of it:
    one system call for many lines when traffic is busy, the same latency when it is not,
    and lines keep the order they were queued in.

    ``write`` gets the joined bytes; it decides what to do when the connection is gone.
    :attr:`pending` is what is queued and not yet written (callers bound it).
    """

    __slots__ = ("_lines", "_scheduled", "_write", "pending")

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._lines: list[bytes] = []
        self._scheduled = False
        self.pending = 0

    def add(self, line: bytes) -> None:
        """Queue ``line``; it is written at the end of this loop iteration at the latest."""
        self._lines.append(line)
        self.pending += len(line)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write everything queued now (a no-op when nothing is)."""
        self._scheduled = False
        lines = self._lines
        if not lines:
            return
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        lines.clear()
        self.pending = 0
        self._write(data)
