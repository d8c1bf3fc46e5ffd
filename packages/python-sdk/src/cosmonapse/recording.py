"""The recording file ``cosmo record`` writes and ``cosmo replay``, ``cosmo trace`` and
Prism read: JSON Lines, one Signal per line, in arrival order::

    {"t":1764769212.115371,"subject":"cosmonapse.team.TASK","signal":{"v":"1","id":"evt_…",…}}

``t`` is when the recorder received the Signal (Unix seconds, a float), ``subject`` the
subject it travelled on, ``signal`` the envelope itself (docs/protocol.md, section 1).

A reader takes the file line by line and stops at the first damage: a line cut mid-way (a
recorder killed while writing), a line that is not JSON, a frame without ``t`` or
``subject``, an envelope that is not a valid Signal. What was read before it is kept, and
:class:`Damage` says where it stopped (``file:line``) and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .exceptions import EnvelopeError
from .signal import Signal

__all__ = ["Damage", "Frame", "RecordingReader", "encode_frame", "namespace_of", "read_frames"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One recorded Signal: when it arrived, on which subject, and the Signal."""

    t: float
    subject: str
    signal: Signal
    line: int
    """Its line number in the file (1 for the first)."""


@dataclass(frozen=True, slots=True)
class Damage:
    """Where a reader stopped before the end of the file, and why."""

    path: str
    line: int
    reason: str
    read: int
    """How many frames were read before it."""

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: stopped reading here, {self.reason}; "
            f"using the {self.read} Signal{'s' if self.read != 1 else ''} before it"
        )


def encode_frame(t: float, subject: str, signal: Signal) -> bytes:
    """One line of a recording (``\\n`` included) for ``signal`` received at ``t``."""
    return orjson.dumps({"t": t, "subject": subject, "signal": signal.to_dict()}) + b"\n"


def namespace_of(subject: str) -> str:
    """The namespace of a ``cosmonapse.<ns>.<TYPE>`` subject (``?`` when it has none)."""
    parts = subject.split(".", 2)
    return parts[1] if len(parts) >= 2 and parts[1] else "?"


def _frame(raw: bytes, number: int) -> Frame | str:
    """The frame of one complete line, or why it is not one."""
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"the line is not JSON ({exc})"
    if not isinstance(value, dict):
        return "the line is not a JSON object"
    t, subject, signal = value.get("t"), value.get("subject"), value.get("signal")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        return "the line has no arrival time 't' (a number)"
    if not isinstance(subject, str) or not subject:
        return "the line has no 'subject' (a string)"
    if not isinstance(signal, dict):
        return "the line has no 'signal' (a JSON object)"
    try:
        decoded = Signal.from_dict(signal)
    except EnvelopeError as exc:
        return f"its 'signal' is not a valid Signal ({exc})"
    return Frame(float(t), subject, decoded, number)


class RecordingReader:
    """Iterates the frames of a recording and stops at the first damage, which
    :attr:`damage` then names (None when the whole file was read)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damage: Damage | None = None
        self.read = 0

    def __iter__(self) -> Iterator[Frame]:
        self.damage, self.read = None, 0
        with self.path.open("rb") as file:
            yield from self._frames(file)

    def _frames(self, file: BinaryIO) -> Iterator[Frame]:
        for number, raw in enumerate(file, start=1):
            if not raw.endswith(b"\n"):
                reason = "the line is cut mid-way (the file ends inside it)"
                found = _frame(raw, number)
                if isinstance(found, Frame):  # complete but for its line break
                    self.read += 1
                    yield found
                    return
                self._stop(number, reason)
                return
            if not raw.strip():
                continue
            found = _frame(raw, number)
            if isinstance(found, str):
                self._stop(number, found)
                return
            self.read += 1
            yield found

    def _stop(self, line: int, reason: str) -> None:
        self.damage = Damage(str(self.path), line, reason, self.read)


def read_frames(path: str | Path) -> tuple[list[Frame], Damage | None]:
    """Every frame of the recording up to any damage, and the damage (or None).
    Raises OSError when the file cannot be opened."""
    reader = RecordingReader(path)
    frames = list(reader)
    return frames, reader.damage
