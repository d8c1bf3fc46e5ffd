"""Terminal output: consoles that colour only a terminal, and a printer that never blocks
the event loop.

Colour follows rich's rules: on when the stream is a terminal, off when it is a pipe or a
file, off whenever ``NO_COLOR`` is set (and on with ``FORCE_COLOR``). Lines are never
wrapped: a Signal's line is fitted to the terminal's width (or to ``COLUMNS`` when it is
set, as rich reads it), and a pipe without ``COLUMNS`` gets whole lines, so every Signal
is one line either way.

A dev synapse must keep routing even when nobody reads its terminal (a paused pipe, a
stuck pager): :class:`LinePrinter` writes from a daemon thread fed by a bounded queue, and
when the queue is full new lines are dropped and counted instead of stalling the server.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import Final, TextIO

from rich.console import Console
from rich.text import Text

__all__ = ["LinePrinter", "err", "line_width", "make_console"]

_STOP: Final = object()


def make_console(file: TextIO | None = None) -> Console:
    """A console on ``file`` (stdout by default) that colours only a terminal."""
    return Console(
        file=file if file is not None else sys.stdout,
        highlight=False,
        markup=False,
        soft_wrap=True,
        emoji=False,
    )


def line_width(console: Console) -> int | None:
    """The width lines printed on ``console`` must fit: the terminal's (or ``COLUMNS``,
    which rich prefers), or None for a pipe or file when ``COLUMNS`` is not set."""
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return max(console.width, 1)
    return None


def err(message: str, *, style: str = "bold red", prefix: str = "error: ") -> None:
    """One line on stderr (coloured only on a terminal)."""
    make_console(sys.stderr).print(Text(prefix, style=style) + Text(message))


class LinePrinter:
    """Prints lines (plain ``str`` or rich ``Text``) in order from a daemon thread.

    :meth:`put` never blocks: past ``max_pending`` queued lines it drops the line and
    counts it in :attr:`dropped`. :meth:`close` prints what is queued (waiting at most
    ``timeout`` seconds) and stops the thread.
    """

    def __init__(self, console: Console, *, max_pending: int = 10_000) -> None:
        self._console = console
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="cosmo-printer", daemon=True)
        self._started = False
        self.dropped = 0

    @property
    def width(self) -> int | None:
        """The width a line must fit (see :func:`line_width`); read per line, so a
        resized terminal is followed."""
        return line_width(self._console)

    def start(self) -> LinePrinter:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def put(self, line: str | Text) -> bool:
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _run(self) -> None:
        console = self._console
        file = console.file
        while True:
            item = self._queue.get()
            if item is _STOP:
                file.flush()
                return
            try:
                if isinstance(item, Text):
                    console.print(item)
                else:
                    file.write(f"{item}\n")
                if self._queue.empty():  # flush per burst, not per line
                    file.flush()
            except (OSError, ValueError):  # the terminal or pipe went away
                return

    def close(self, timeout: float = 5.0) -> None:
        if not self._started:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return  # the writer is stuck on a stalled stream; it is a daemon thread
        self._thread.join(timeout)
