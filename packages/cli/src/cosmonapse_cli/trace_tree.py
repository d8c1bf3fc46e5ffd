"""One trace of a recording as a tree of TASKs, for ``cosmo trace``.

Each TASK sits under the TASK whose run sent it: a delegated TASK's ``parent_id`` names
the delegating TASK (docs/delegation.md), and any Signal a run sends hangs where its
parent hangs, so a TASK parented to another Signal of a run still finds that run. A TASK
whose parent is not in the recording is a root. For each TASK the tree shows:

* who ran it: its reply's ``directed.id`` (the producer) and ``meta.node`` (the Dendrite);
* how long it took: from the TASK's arrival to its reply's (arrival times of the file);
* how it ended: answered, an ERROR (its ``code`` and message), cut by a STOP (no reply
  had arrived when the trace's STOP did: a stopped run never answers), or open (no reply
  before the recording ended);
* the IMPRINTs and RECALLs its run made.

A STOP of the trace is drawn after the TASKs with its reason (``payload.reason``, a
budget's ``meta.budget_exceeded``) and, under it, each Dendrite's STOPPED: what it
cancelled and whether it rolled back (how many writes it compensated).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from cosmonapse import Signal, SignalType
from cosmonapse.recording import Frame, namespace_of
from rich.text import Text
from rich.tree import Tree

__all__ = [
    "TaskNode",
    "TraceSummary",
    "TraceView",
    "build_trace",
    "match_traces",
    "render_trace",
    "summarize_traces",
]

_REPLIES: Final = frozenset(
    {SignalType.AGENT_OUTPUT, SignalType.ERROR, SignalType.FINAL, SignalType.TOOL_RESULT}
)
_NOTES: Final = frozenset({SignalType.IMPRINT, SignalType.RECALL})


@dataclass(slots=True)
class TaskNode:
    """One TASK of the trace, what answered it, what it delegated."""

    task: Frame
    children: list[TaskNode] = field(default_factory=list)
    reply: Frame | None = None
    cut_by: Frame | None = None
    notes: list[Frame] = field(default_factory=list)

    @property
    def neuron(self) -> str:
        directed = self.task.signal.directed
        if directed is not None and directed.id:
            return directed.id
        if directed is not None and directed.capabilities:
            return "caps:" + ",".join(directed.capabilities)
        return "*"

    @property
    def duration(self) -> float | None:
        return self.reply.t - self.task.t if self.reply is not None else None


@dataclass(slots=True)
class TraceView:
    """The tree of one trace and the Signals that end or undo it."""

    trace_id: str
    namespace: str
    frames: list[Frame]
    roots: list[TaskNode]
    tasks: list[TaskNode]
    stops: list[Frame]
    stopped: list[Frame]


def build_trace(frames: Iterable[Frame], trace_id: str) -> TraceView:
    """The tree of ``trace_id`` from the frames of a recording (in file order)."""
    mine = [f for f in frames if f.signal.trace_id == trace_id]
    owner: dict[str, TaskNode] = {}  # Signal id -> the TASK whose run it belongs to
    by_task: dict[str, TaskNode] = {}
    roots: list[TaskNode] = []
    tasks: list[TaskNode] = []
    stops: list[Frame] = []
    stopped: list[Frame] = []
    for frame in mine:
        signal = frame.signal
        if signal.id in owner or signal.id in by_task:
            continue  # a duplicate delivery
        parent = owner.get(signal.parent_id) if signal.parent_id is not None else None
        kind = signal.type
        if kind is SignalType.TASK:
            node = TaskNode(frame)
            (parent.children if parent is not None else roots).append(node)
            tasks.append(node)
            owner[signal.id] = by_task[signal.id] = node
            continue
        if kind in _REPLIES:
            answered = _answered(signal, by_task)
            if answered is not None and answered.reply is None:
                answered.reply = frame
                answered.cut_by = None
        elif kind is SignalType.STOP:
            stops.append(frame)
            for node in tasks:
                if node.reply is None and node.cut_by is None:
                    node.cut_by = frame
        elif kind is SignalType.STOPPED:
            stopped.append(frame)
        elif kind in _NOTES and parent is not None:
            parent.notes.append(frame)
        if parent is not None:
            owner[signal.id] = parent
    namespace = namespace_of(mine[0].subject) if mine else "?"
    return TraceView(trace_id, namespace, mine, roots, tasks, stops, stopped)


def _answered(signal: Signal, by_task: dict[str, TaskNode]) -> TaskNode | None:
    """The TASK a reply answers: its parent, or a FINAL's ``meta.task``."""
    if signal.parent_id is not None and signal.parent_id in by_task:
        return by_task[signal.parent_id]
    named = signal.meta.get("task")
    return by_task.get(named) if isinstance(named, str) else None


# -- finding a trace ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """One trace of a recording, for the list shown when an id matches none."""

    trace_id: str
    namespace: str
    first_t: float
    signals: int
    root: str | None
    """The neuron its first TASK went to (None: the trace has no TASK)."""
    first_type: str


def summarize_traces(frames: Iterable[Frame]) -> list[TraceSummary]:
    """Every trace of the recording, in order of first appearance."""
    seen: dict[str, list[Any]] = {}
    for frame in frames:
        signal = frame.signal
        entry = seen.get(signal.trace_id)
        if entry is None:
            entry = [namespace_of(frame.subject), frame.t, 0, None, signal.type.value]
            seen[signal.trace_id] = entry
        entry[2] += 1
        if entry[3] is None and signal.type is SignalType.TASK and signal.neuron:
            entry[3] = signal.neuron
    return [TraceSummary(tid, *entry) for tid, entry in seen.items()]


def match_traces(trace_ids: Iterable[str], query: str) -> list[str]:
    """The trace ids ``query`` names: the id itself, else those it starts (with or
    without ``trc_``), else those it ends (the Doppler shows ``trc…`` + the last eight)."""
    ids = list(dict.fromkeys(trace_ids))
    query = query.strip()
    if query in ids:
        return [query]
    short = query.removeprefix("trc…").removeprefix("trc_")
    if not short:
        return []
    starts = [t for t in ids if t.startswith(query) or t.removeprefix("trc_").startswith(short)]
    if starts:
        return starts
    return [t for t in ids if t.endswith(short)]


# -- drawing -------------------------------------------------------------------------------


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def _took(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def _at(frame: Frame, start: float) -> str:
    return f"+{_took(max(0.0, frame.t - start))}"


# Control characters (escape sequences, line breaks) from the wire never reach the terminal.
_CONTROLS: Final = {code: " " for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


def _one_line(value: Any, limit: int = 80) -> str:
    text = " ".join(str(value).translate(_CONTROLS).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _task_label(node: TaskNode, start: float) -> Text:
    task = node.task.signal
    text = Text()
    text.append(_one_line(node.neuron), style="bold cyan")
    caller = task.meta.get("caller") or task.meta.get("node")
    if isinstance(caller, str) and caller:
        text.append(f" from {_one_line(caller)}", style="dim")
    depth = task.meta.get("depth")
    if isinstance(depth, int) and not isinstance(depth, bool):
        text.append(f" (depth {depth})", style="dim")
    text.append(f"  {_at(node.task, start)}", style="dim")
    reply = node.reply
    if reply is not None:
        signal = reply.signal
        producer = signal.neuron or "?"
        host = signal.meta.get("node")
        where = f"{producer} on {host}" if isinstance(host, str) and host else producer
        text.append(f"  ran by {_one_line(where)}")
        text.append(f"  {_took(node.duration or 0.0)}", style="bold")
        if signal.type is SignalType.ERROR:
            code = signal.payload.get("code", "ERROR")
            message = _one_line(signal.payload.get("message", ""))
            text.append(f"  ERROR {_one_line(code)}", style="bold red")
            if message:
                text.append(f": {message}", style="red")
        else:
            text.append(f"  {signal.type.value}", style="green")
    elif node.cut_by is not None:
        text.append(f"  ✂ cut by STOP at {_at(node.cut_by, start)}", style="bold magenta")
        text.append(f" ({_took(node.cut_by.t - node.task.t)} after it was sent)", style="magenta")
    else:
        text.append("  no reply (still open when the recording ends)", style="yellow")
    return text


def _note_label(frame: Frame, start: float) -> Text:
    signal = frame.signal
    directed = signal.directed
    target = (directed.id or directed.type or "?") if directed is not None else "?"
    detail = signal.payload.get("op") if signal.type is SignalType.IMPRINT else "recall"
    text = Text(f"{signal.type.value} {_one_line(target)}", style="blue")
    text.append(f" ({_one_line(detail)})  {_at(frame, start)}", style="dim")
    return text


def _add(branch: Tree, node: TaskNode, start: float) -> None:
    here = branch.add(_task_label(node, start))
    for note in node.notes:
        here.add(_note_label(note, start))
    for child in node.children:
        _add(here, child, start)


def _stop_label(frame: Frame, start: float) -> Text:
    signal = frame.signal
    who = signal.neuron or signal.meta.get("node") or "?"
    text = Text("STOP", style="bold magenta")
    text.append(f" by {_one_line(who)}  {_at(frame, start)}", style="dim")
    reason = signal.payload.get("reason")
    budget = signal.meta.get("budget_exceeded")
    if isinstance(budget, dict):
        reason = reason or f"budget {budget.get('bound')} {budget.get('limit')}"
    text.append(f"  reason: {_one_line(reason) if reason else 'none given'}")
    text.append(f"  rollback: {'yes' if signal.payload.get('rollback') else 'no'}")
    return text


def _writes(n: Any) -> str:
    return f"{n} write{'s' if n != 1 else ''}"


def _stopped_label(frame: Frame, start: float) -> Text:
    payload = frame.signal.payload
    node = payload.get("node") or frame.signal.neuron or "?"
    text = Text("STOPPED", style="magenta")
    text.append(f" {_one_line(node)}  {_at(frame, start)}", style="dim")
    text.append(f"  cancelled {payload.get('cancelled', 0)}")
    compensated = payload.get("compensated", 0)
    if payload.get("rolled_back") and compensated:
        text.append(f"  rolled back: {_writes(compensated)} undone", style="bold yellow")
    elif payload.get("rolled_back"):
        text.append("  rolled back: nothing to undo here")
    else:
        text.append("  not rolled back")
    return text


def _summary(view: TraceView) -> str:
    tasks = view.tasks
    answered = sum(1 for n in tasks if n.reply is not None)
    errors = sum(
        1 for n in tasks if n.reply is not None and n.reply.signal.type is SignalType.ERROR
    )
    cut = sum(1 for n in tasks if n.cut_by is not None)
    still = len(tasks) - answered - cut
    parts = [f"{len(tasks)} TASK{'s' if len(tasks) != 1 else ''}", f"{answered} answered"]
    if errors:
        parts.append(f"{errors} with an ERROR")
    if cut:
        parts.append(f"{cut} cut by STOP")
    if still:
        parts.append(f"{still} open")
    undone = sum(
        int(f.signal.payload.get("compensated", 0) or 0)
        for f in view.stopped
        if f.signal.payload.get("rolled_back")
    )
    if undone:
        parts.append(f"{_writes(undone)} rolled back")
    return ", ".join(parts)


def render_trace(view: TraceView) -> Tree:
    """The rich tree of ``view``: a header, the TASKs nested by delegation, the STOPs."""
    start = view.frames[0].t if view.frames else 0.0
    end = view.frames[-1].t if view.frames else 0.0
    head = Text()
    head.append(f"trace {view.trace_id}", style="bold")
    head.append(
        f"  namespace {view.namespace}  {len(view.frames)} Signals"
        f"  from {_clock(start)}, {_took(end - start)}",
        style="dim",
    )
    tree = Tree(head, guide_style="dim")
    for root in view.roots:
        _add(tree, root, start)
    for stop in view.stops:
        branch = tree.add(_stop_label(stop, start))
        for ack in view.stopped:
            if ack.signal.parent_id == stop.signal.id:
                branch.add(_stopped_label(ack, start))
    stop_ids = {stop.signal.id for stop in view.stops}
    for ack in view.stopped:
        if ack.signal.parent_id not in stop_ids:
            tree.add(_stopped_label(ack, start))
    tree.add(Text(_summary(view), style="bold"))
    return tree
