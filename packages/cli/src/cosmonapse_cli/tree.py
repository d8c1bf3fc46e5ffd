"""Each trace as a tree, as the Doppler saw it pass: how deep a Signal sits in the
delegation (a TASK's ``meta.depth``, and everything a TASK's run sends or receives at its
TASK's depth), which TASKs still wait for a reply, and which ones a STOP cut.

A root TASK is depth 0; a TASK a Neuron delegated carries ``meta.depth`` (1 for a child of
the root, 2 for a grandchild). A TASK without ``meta.depth`` (a peer that does not send it)
sits one level below its parent TASK when the Doppler saw that one. Any other Signal sits
where its parent sits, so a reply is drawn at the level of the TASK it answers.

A TASK is *open* from the moment it passes until a reply (AGENT_OUTPUT, ERROR, FINAL,
TOOL_RESULT) to it passes. A STOP of the trace *cuts* the TASKs still open then: a run
cancelled by a STOP never answers. The memory is bounded: the last ``size`` Signals.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, NamedTuple

from cosmonapse import Route, Signal, SignalType

__all__ = ["Cut", "TraceTree", "cut_summary"]

_REPLIES: Final = frozenset(
    {SignalType.AGENT_OUTPUT, SignalType.ERROR, SignalType.FINAL, SignalType.TOOL_RESULT}
)


class Cut(NamedTuple):
    """Open TASKs to one neuron at one depth that a STOP cut."""

    name: str
    depth: int
    times: int


class _Seen:
    __slots__ = ("depth", "name", "open", "trace")

    def __init__(self, trace: str, depth: int, name: str | None) -> None:
        self.trace = trace
        self.depth = depth
        self.name = name  # the receiver of a TASK; None for any other Signal
        self.open = name is not None


def _stated_depth(signal: Signal) -> int | None:
    depth = signal.meta.get("depth")
    if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0:
        return depth
    return None


class TraceTree:
    """Where each Signal sits in its trace's tree. Call :meth:`observe` for every Signal
    of the stream in arrival order (the filtered-out ones too)."""

    __slots__ = ("_seen", "size")

    def __init__(self, size: int = 4096) -> None:
        if size < 1:
            raise ValueError("a TraceTree needs room for at least one Signal")
        self.size = size
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def observe(self, signal: Signal, route: Route) -> tuple[int, tuple[Cut, ...]]:
        """``(depth, cuts)`` of ``signal``: the level to draw it at and, for a STOP, the
        TASKs of its trace it cut (empty for any other Signal)."""
        seen = self._seen
        known = seen.get(signal.id)
        if known is not None:  # a duplicate delivery: same place, nothing cut again
            return known.depth, ()
        parent = seen.get(signal.parent_id) if signal.parent_id is not None else None
        kind = signal.type
        if kind is SignalType.TASK:
            stated = _stated_depth(signal)
            if stated is None:
                stated = parent.depth + 1 if parent is not None and parent.name else 0
            entry = _Seen(signal.trace_id, stated, route.receiver)
        else:
            entry = _Seen(signal.trace_id, parent.depth if parent is not None else 0, None)
            if kind in _REPLIES and parent is not None:
                parent.open = False
        seen[signal.id] = entry
        if len(seen) > self.size:
            seen.popitem(last=False)
        cuts = self._cut(signal.trace_id) if kind is SignalType.STOP else ()
        return entry.depth, cuts

    def _cut(self, trace: str) -> tuple[Cut, ...]:
        groups: dict[tuple[str, int], int] = {}
        for entry in self._seen.values():
            if entry.open and entry.trace == trace and entry.name is not None:
                entry.open = False
                key = (entry.name, entry.depth)
                groups[key] = groups.get(key, 0) + 1
        return tuple(Cut(name, depth, n) for (name, depth), n in groups.items())


def cut_summary(cuts: tuple[Cut, ...]) -> str:
    """``3 open TASKs: planner (root), researcher (depth 1), fact x2 (depth 2)``."""
    total = sum(cut.times for cut in cuts)
    parts = []
    for cut in cuts:
        times = f" x{cut.times}" if cut.times > 1 else ""
        where = "root" if cut.depth == 0 else f"depth {cut.depth}"
        parts.append(f"{cut.name}{times} ({where})")
    return f"{total} open TASK{'s' if total != 1 else ''}: " + ", ".join(parts)
