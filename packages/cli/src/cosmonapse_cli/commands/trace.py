"""``cosmo trace``: one trace of a recording as a tree in the terminal.

Exit status: 0 when the trace was printed, 1 when the file cannot be read or the id
names no trace of it (the traces it holds are listed) or several (they are listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cosmonapse.recording import RecordingReader
from rich.text import Text

from ..console import err, line_width, make_console
from ..trace_tree import TraceSummary, build_trace, match_traces, render_trace, summarize_traces
from ._common import fail
from .replay import report_damage

__all__ = ["trace"]

_LISTED = 50  # traces listed when the id matches none
_UNBOUNDED = 100_000  # the width of a pipe


def trace(
    recording: Annotated[
        Path, typer.Argument(help="A file written by cosmo record.", dir_okay=False)
    ],
    trace_id: Annotated[
        str,
        typer.Argument(
            help="The trace: its id, a unique start of it, or its end as the Doppler shows it."
        ),
    ],
) -> None:
    """Print one trace of a recording as a tree: TASKs nested by delegation, who ran each,
    how long it took, its ERROR, and where a STOP cut the trace or rolled it back.
    """
    reader = RecordingReader(recording)
    try:
        frames = list(reader)
    except OSError as exc:
        fail(f"cannot read {recording}: {exc.strerror or exc}")
    report_damage(reader)
    summaries = summarize_traces(frames)
    found = match_traces((s.trace_id for s in summaries), trace_id)
    if len(found) != 1:
        if found:
            err(f"{trace_id!r} names {len(found)} traces of {recording}; give more of the id:")
        else:
            err(f"no trace {trace_id!r} in {recording}; the traces it holds:")
        chosen = set(found)
        _list([s for s in summaries if not chosen or s.trace_id in chosen])
        raise typer.Exit(1)
    console = make_console()
    if line_width(console) is None:  # a pipe or a file: whole lines, never cut
        console.width = _UNBOUNDED
    # Wrapped, not cut, at the terminal's width: rich keeps the tree's guides on each part.
    console.print(render_trace(build_trace(frames, found[0])), soft_wrap=False)


def _list(summaries: list[TraceSummary]) -> None:
    console = make_console()
    if not summaries:
        console.print("  (none: the file holds no Signal)")
    for s in summaries[:_LISTED]:
        line = Text(f"  {s.trace_id}", style="bold")
        what = f"root {s.root}" if s.root else f"no TASK, first {s.first_type}"
        plural = "s" if s.signals != 1 else ""
        line.append(f"  {s.namespace}  {s.signals} Signal{plural}  {what}", style="dim")
        console.print(line)
    if len(summaries) > _LISTED:
        console.print(f"  ... and {len(summaries) - _LISTED} more")
