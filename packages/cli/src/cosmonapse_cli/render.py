"""How a Signal looks in the terminal: the dev synapse banner and one line per Signal.

A line reads ``time  TYPE  namespace  trace  from -> to  payload``, for example::

    14:02:07.118  TASK          quickstart  trc…7Q2M1XKD  api -> worker-b       {"prompt":"the sun"}
    14:02:07.903  AGENT_OUTPUT  quickstart  trc…7Q2M1XKD  worker-b -> api       {"response":"…"}

``from`` and ``to`` follow the SDK's one rule, :func:`cosmonapse.route_of` (Prism shows
the same names): a request goes from its sender to ``directed``'s target, a reply from
its producer back to whoever sent its parent, a STOP from its producer to ``all``.
``*`` means "whoever listens" and ``?`` "not stated, and the parent was not seen".

A line fits the width it is given (the terminal's, or ``COLUMNS``): the payload preview
is cut first, then ``from -> to``, each ending in ``…``, so a Signal is always one line.

A trace with delegation reads as a tree: a delegated TASK, and everything its run sends
and receives (its reply included), is indented by its depth (``└`` and two more spaces per
level); after a STOP a ``STOP cut`` line names the TASKs of the trace it cut (still open,
so never answered)::

    12:58:58.248  TASK          team  trc…45W9AY05  api -> planner            {"topics":["tides",…
    12:58:58.249  TASK          team  trc…45W9AY05  └ planner -> researcher   {"topic":"moon"}
    12:58:58.249  TASK          team  trc…45W9AY05    └ researcher -> fact    {"q":"moon","n":0}
    12:58:58.250  AGENT_OUTPUT  team  trc…45W9AY05    └ fact -> researcher    {"fact":"tides 0"}
    12:58:58.259  STOP          team  trc…45W9AY05  api -> all                {"rollback":false,"…
    12:58:58.259  STOP cut      team  trc…45W9AY05  3 open TASKs: planner (root), researcher (dep…
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from cosmonapse import Route, Signal, SignalType, route_of
from rich.cells import cell_len
from rich.text import Text

from .tree import Cut, cut_summary

__all__ = [
    "RULE",
    "SignalFilter",
    "SignalLine",
    "banner",
    "describe",
    "render_cut",
    "render_line",
    "render_undecodable",
]

RULE: Final = "─" * 48
_PREVIEW_CHARS = 96  # the preview of a line not fitted to a width
_MAX_PREVIEW_CHARS = 2048  # the most a fitted line previews, however wide the terminal
_ROUTE_COLUMN = 24  # from -> to is padded to this when the width leaves room
_MIN_PREVIEW = 16  # the padding goes before the preview shrinks below this
_GAP = "  "
_MAX_INDENT = 8  # levels drawn; a deeper Signal is drawn at this one
_CUT_LABEL = "STOP cut"
# Line breaks, tabs and other control characters would break the one-line promise.
_CONTROLS: Final = {code: " " for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
# The payload key worth previewing, per type; the whole payload otherwise.
_PREVIEW_KEY: Final = {
    SignalType.TASK: "input",
    SignalType.AGENT_OUTPUT: "output",
    SignalType.FINAL: "result",
}
_STYLES: Final = {
    SignalType.TASK: "bold cyan",
    SignalType.AGENT_OUTPUT: "green",
    SignalType.FINAL: "bold green",
    SignalType.ERROR: "bold red",
    SignalType.STOP: "bold magenta",
    SignalType.STOPPED: "magenta",
    SignalType.REGISTER: "dim",
    SignalType.DEREGISTER: "dim",
    SignalType.HEARTBEAT: "dim",
    SignalType.DISCOVER: "dim",
    SignalType.IMPRINT: "blue",
    SignalType.IMPRINTED: "blue",
    SignalType.RECALL: "blue",
    SignalType.RECALLED: "blue",
}
_TYPE_WIDTH = max(len(t.value) for t in _STYLES)


def banner(url: str, namespace: str | None, transport: str) -> list[Text]:
    """The lines ``cosmo synapse start`` prints before any Signal::

    URL:        cosmo://127.0.0.1:7070
    Namespace:  quickstart
    Transport:  TCP + NDJSON (single-host dev only)
    ────────────────────────────────────────────────
    """
    rows = [
        ("URL:", url),
        ("Namespace:", namespace if namespace is not None else "* (every namespace)"),
        ("Transport:", transport),
    ]
    lines = []
    for label, value in rows:
        line = Text()
        line.append(label.ljust(12), style="dim")
        line.append(value, style="bold")
        lines.append(line)
    return [*lines, Text(RULE, style="dim")]


@dataclass(frozen=True, slots=True)
class SignalLine:
    """The fields of one Doppler line."""

    time: str
    type: SignalType
    namespace: str
    trace: str
    origin: str
    target: str
    preview: str
    depth: int = 0
    """How deep in the trace's delegation tree (0: the root TASK's level)."""


def _local_time(ts: str) -> str:
    try:
        when = dt.datetime.fromisoformat(ts).astimezone()
    except ValueError:
        return ts[11:23]
    return when.strftime("%H:%M:%S.%f")[:-3]


def _one_line(text: str) -> str:
    return text.translate(_CONTROLS)


def _preview(signal: Signal, limit: int) -> str:
    payload = signal.payload
    if signal.type is SignalType.ERROR:
        text = f"{payload.get('code', 'ERROR')}: {payload.get('message', '')}"
    else:
        key = _PREVIEW_KEY.get(signal.type)
        value: Any = payload.get(key, payload) if key else payload
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _one_line(text)


def describe(
    signal: Signal,
    namespace: str,
    route: Route | None = None,
    *,
    fitted: bool = False,
    depth: int = 0,
) -> SignalLine:
    """Pick the fields of a Doppler line out of ``signal``. ``route`` is its
    ``(sender, receiver)`` when the caller knows its parent (a
    :class:`cosmonapse.RouteCache` does), else it is read from ``signal`` alone.
    ``fitted``: the line will be fitted to a width, so keep more of the preview.
    ``depth``: its level in the trace's tree (a :class:`~cosmonapse_cli.tree.TraceTree`
    tells), drawn as indentation."""
    origin, target = route if route is not None else route_of(signal)
    return SignalLine(
        time=_local_time(signal.ts),
        type=signal.type,
        namespace=_one_line(namespace),
        trace="trc…" + _one_line(signal.trace_id[-8:]),
        origin=_one_line(origin),
        target=_one_line(target),
        preview=_preview(signal, _MAX_PREVIEW_CHARS if fitted else _PREVIEW_CHARS),
        depth=max(0, depth),
    )


def _cut(text: str, cells: int) -> str:
    """``text`` in at most ``cells`` terminal cells, ending in an ellipsis when cut."""
    if cell_len(text) <= cells:
        return text
    if cells <= 0:
        return ""
    cut = Text(text)
    cut.truncate(cells, overflow="ellipsis")
    return cut.plain


def _indent(depth: int) -> str:
    """``""`` at the root's level, ``└ `` one below, two more spaces per further level."""
    if depth <= 0:
        return ""
    return "  " * (min(depth, _MAX_INDENT) - 1) + "└ "


def _head(time: str, label: str, style: str, namespace: str, trace: str) -> Text:
    text = Text()
    text.append(time, style="dim")
    text.append(_GAP)
    text.append(label.ljust(_TYPE_WIDTH), style=style)
    text.append(_GAP)
    text.append(namespace, style="cyan")
    text.append(_GAP)
    text.append(trace, style="dim")
    text.append(_GAP)
    return text


def render_line(line: SignalLine, width: int | None = None) -> Text:
    """One coloured line (colour is dropped by the console when not on a terminal).

    With ``width`` the line takes at most that many cells: the preview is cut first,
    then ``from -> to`` (its indentation included); wider widths show more of both."""
    style = _STYLES.get(line.type, "yellow")
    text = _head(line.time, line.type.value, style, line.namespace, line.trace)
    indent = _indent(line.depth)
    route = f"{indent}{line.origin} -> {line.target}"
    preview = line.preview
    if width is None:
        route += " " * max(0, _ROUTE_COLUMN - cell_len(route))
    else:
        room = width - text.cell_len
        if room <= cell_len(route) + len(_GAP):
            route, preview = _cut(route, room), ""
        else:
            spare = room - len(_GAP) - _MIN_PREVIEW
            route += " " * max(0, min(_ROUTE_COLUMN, spare) - cell_len(route))
            preview = _cut(preview, room - cell_len(route) - len(_GAP))
    if indent and route.startswith(indent):
        text.append(indent, style="dim")
        route = route[len(indent) :]
    text.append(route, style="bold")
    if preview:
        text.append(_GAP)
        text.append(preview, style="red" if line.type is SignalType.ERROR else "")
    if width is not None and text.cell_len > width:  # a namespace too long for the width
        text.truncate(max(width, 1), overflow="ellipsis")
    return text


def render_cut(stop: SignalLine, cuts: tuple[Cut, ...], width: int | None = None) -> Text:
    """The line after a STOP's that names the TASKs it cut (open, never to be answered):
    ``STOP cut  <namespace>  <trace>  2 open TASKs: planner (root), fact (depth 2)``."""
    text = _head(stop.time, _CUT_LABEL, "bold magenta", stop.namespace, stop.trace)
    what = _one_line(cut_summary(cuts))
    if width is not None:
        what = _cut(what, width - text.cell_len)
    text.append(what, style="magenta")
    if width is not None and text.cell_len > width:
        text.truncate(max(width, 1), overflow="ellipsis")
    return text


def render_undecodable(subject: str, data: bytes, reason: str, width: int | None = None) -> Text:
    """A line for a frame that is not a valid Signal: where it came from and why."""
    text = Text()
    text.append("not a Signal", style="bold yellow")
    text.append(_one_line(f"  on {subject}: {reason}  "))
    text.append(repr(data[:60]), style="dim")
    if width is not None and text.cell_len > width:
        text.truncate(max(width, 1), overflow="ellipsis")
    return text


class SignalFilter:
    """Which Signals a Doppler shows: any of ``types`` (all when empty), on ``trace``
    (a full trace id or any part of one), involving ``neuron`` (as target, producer,
    sending node, or either end of the Signal's ``route``)."""

    def __init__(
        self,
        types: Iterable[SignalType] = (),
        trace: str | None = None,
        neuron: str | None = None,
    ) -> None:
        self.types = frozenset(types)
        self.trace = trace
        self.neuron = neuron

    def matches(self, signal: Signal, route: Route | None = None) -> bool:
        if self.types and signal.type not in self.types:
            return False
        if self.trace is not None and self.trace not in signal.trace_id:
            return False
        if self.neuron is not None:
            directed = signal.directed
            ids = {directed.id if directed is not None else None, signal.meta.get("node")}
            if route is not None:
                ids.update(route)
            if self.neuron not in ids:
                return False
        return True
