"""``cosmo replay``: stream a recording back, onto a bus (where a Doppler or Prism shows
it) or straight into this terminal with the Doppler's lines (``--doppler``).

Frames keep their relative timing, divided by ``--speed`` (``--as-fast-as-possible``
drops it). Each Signal is published unchanged on its recorded subject, or on the same
subject in the namespace ``-n`` names. A replayed TASK is a real TASK: a live worker on
that namespace runs it again, so replay into a namespace of its own (``-n replay``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from cosmonapse import CosmonapseError, RouteCache, connect_synapse
from cosmonapse.recording import Frame, RecordingReader, namespace_of
from cosmonapse.subjects import PREFIX, validate_namespace
from cosmonapse.synapses import require_watchable

from ..console import err, line_width, make_console
from ..render import describe, render_cut, render_line
from ..tree import TraceTree
from ._common import DEFAULT_URL, Failure, UrlOption, fail, run

__all__ = ["replay", "report_damage"]


def report_damage(reader: RecordingReader) -> None:
    """The one stderr line saying where a damaged recording stopped being read."""
    if reader.damage is not None:
        err(str(reader.damage), style="bold yellow", prefix="warning: ")


def _subject(frame: Frame, namespace: str | None) -> str:
    if namespace is None:
        return frame.subject
    parts = frame.subject.split(".", 2)
    rest = parts[2] if len(parts) == 3 else frame.signal.type.value
    return f"{PREFIX}.{namespace}.{rest}"


async def _pace(frame: Frame, first: list[float], speed: float | None) -> None:
    """Wait until ``frame`` is due: its offset from the first frame, divided by speed."""
    if speed is None:
        return
    if not first:
        first.extend((frame.t, time.monotonic()))
        return
    due = first[1] + (frame.t - first[0]) / speed
    delay = due - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def replay(
    recording: Annotated[
        Path, typer.Argument(help="A file written by cosmo record.", dir_okay=False)
    ],
    url: UrlOption = DEFAULT_URL,
    speed: Annotated[
        float, typer.Option(min=0.001, help="Play N times faster (0.5: half speed).")
    ] = 1.0,
    as_fast_as_possible: Annotated[
        bool, typer.Option("--as-fast-as-possible", help="Drop the timing: send at once.")
    ] = False,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", help="Publish into this namespace instead of the recorded one."
        ),
    ] = None,
    doppler: Annotated[
        bool,
        typer.Option("--doppler", help="Print the Doppler's lines here instead of publishing."),
    ] = False,
) -> None:
    """Stream a recording back onto a synapse (for a Doppler or Prism), or to this terminal.

    The Signals keep their relative timing (scaled by --speed); a file damaged mid-way is
    replayed up to the damage, with one line saying where it stopped. A file with no
    Signal to replay (empty, or damaged from its first line) exits 1.
    """
    if namespace is not None:
        try:
            validate_namespace(namespace)
        except CosmonapseError as exc:
            raise typer.BadParameter(str(exc), param_hint="--namespace") from None
    if not recording.is_file():
        fail(f"no recording at {recording}")
    pace = None if as_fast_as_possible else speed
    if doppler:
        run(_to_terminal(recording, pace, namespace))
        return
    try:
        require_watchable(url)
    except ValueError as exc:
        fail(str(exc).replace("watched from", "replayed into from"))
    run(_to_bus(url, recording, pace, namespace))


async def _to_bus(url: str, path: Path, speed: float | None, namespace: str | None) -> None:
    reader = RecordingReader(path)
    try:
        synapse = await connect_synapse(url)
    except (CosmonapseError, ValueError) as exc:
        raise Failure(str(exc)) from None
    sent, started = 0, time.monotonic()
    first: list[float] = []
    try:
        for frame in reader:
            await _pace(frame, first, speed)
            await synapse.publish(_subject(frame, namespace), frame.signal.encode())
            sent += 1
    except CosmonapseError as exc:
        raise Failure(f"replay stopped after {sent} Signals: {exc}") from None
    finally:
        await synapse.close()
    report_damage(reader)
    if sent == 0:
        raise Failure(f"{path} holds no Signal to replay")
    took = time.monotonic() - started
    plural = "s" if sent != 1 else ""
    err(f"replayed {sent} Signal{plural} from {path} onto {url} in {took:.2f} s", prefix="")


async def _to_terminal(path: Path, speed: float | None, namespace: str | None) -> None:
    """Print each frame as the Doppler would have (here nothing waits on the terminal but
    this command, so lines are printed in turn, never dropped)."""
    reader = RecordingReader(path)
    console = make_console()
    routes, tree = RouteCache(), TraceTree()
    first: list[float] = []
    shown = 0
    for frame in reader:
        await _pace(frame, first, speed)
        shown += 1
        signal = frame.signal
        route = routes.route(signal)
        depth, cuts = tree.observe(signal, route)
        width = line_width(console)
        ns = namespace or namespace_of(frame.subject)
        line = describe(signal, ns, route, fitted=width is not None, depth=depth)
        console.print(render_line(line, width))
        if cuts:
            console.print(render_cut(line, cuts, width))
    console.file.flush()
    report_damage(reader)
    if shown == 0:
        raise Failure(f"{path} holds no Signal to replay")
