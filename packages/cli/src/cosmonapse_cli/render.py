"""How a Signal looks in the terminal: the dev synapse banner and one line per Signal.

A line reads ``time  TYPE  namespace  trace  from -> to  payload``, for example::

    14:02:07.118  TASK          quickstart  trc…7Q2M1XKD  ? -> pool         {"prompt":"the sun"}
    14:02:07.903  AGENT_OUTPUT  quickstart  trc…7Q2M1XKD  worker-b -> *     {"response":"…"}

``from`` and ``to`` come from the envelope: on a request (TASK, STOP, RECALL, ...)
``directed`` names the target; on anything else it names the producer. ``meta.node``
(the sending Dendrite, when it says so) fills the other side; ``*`` means "whoever
listens" and ``?`` "not stated".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from cosmonapse import Signal, SignalType
from rich.text import Text

__all__ = [
    "RULE",
    "SignalFilter",
    "SignalLine",
    "banner",
    "describe",
    "render_line",
    "render_undecodable",
]

RULE: Final = "─" * 48
_PREVIEW_CHARS = 96

# Requests carry their target in ``directed``; every other type carries its producer.
_REQUESTS: Final = frozenset(
    {
        SignalType.TASK,
        SignalType.STOP,
        SignalType.RECALL,
        SignalType.IMPRINT,
        SignalType.DISCOVER,
        SignalType.TASK_OFFER,
        SignalType.TASK_AWARDED,
        SignalType.CLARIFICATION,
        SignalType.PERMISSION,
    }
)
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


def _local_time(ts: str) -> str:
    try:
        when = dt.datetime.fromisoformat(ts).astimezone()
    except ValueError:
        return ts[11:23]
    return when.strftime("%H:%M:%S.%f")[:-3]


def _target(signal: Signal) -> str:
    directed = signal.directed
    if directed is None:
        return "*"
    if directed.id:
        return directed.id
    if directed.type:
        return f"type:{directed.type}"
    if directed.capabilities:
        return "caps:" + ",".join(directed.capabilities)
    return "*"


def _preview(signal: Signal) -> str:
    payload = signal.payload
    if signal.type is SignalType.ERROR:
        code = payload.get("code", "ERROR")
        return f"{code}: {payload.get('message', '')}"
    key = _PREVIEW_KEY.get(signal.type)
    value: Any = payload.get(key, payload) if key else payload
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    if len(text) > _PREVIEW_CHARS:
        text = text[: _PREVIEW_CHARS - 1] + "…"
    return text


def describe(signal: Signal, namespace: str) -> SignalLine:
    """Pick the fields of a Doppler line out of ``signal``."""
    node = signal.meta.get("node")
    node = node if isinstance(node, str) and node else None
    if signal.type in _REQUESTS:
        origin, target = node or "?", _target(signal)
    else:
        directed = signal.directed
        origin = (directed.id if directed is not None and directed.id else None) or node or "?"
        target = "*"
    return SignalLine(
        time=_local_time(signal.ts),
        type=signal.type,
        namespace=namespace,
        trace="trc…" + signal.trace_id[-8:],
        origin=origin,
        target=target,
        preview=_preview(signal),
    )


def render_line(line: SignalLine) -> Text:
    """One coloured line (colour is dropped by the console when not on a terminal)."""
    style = _STYLES.get(line.type, "yellow")
    text = Text()
    text.append(line.time, style="dim")
    text.append("  ")
    text.append(line.type.value.ljust(_TYPE_WIDTH), style=style)
    text.append("  ")
    text.append(line.namespace, style="cyan")
    text.append("  ")
    text.append(line.trace, style="dim")
    text.append("  ")
    text.append(f"{line.origin} -> {line.target}".ljust(24), style="bold")
    text.append("  ")
    text.append(line.preview, style="red" if line.type is SignalType.ERROR else "")
    return text


def render_undecodable(subject: str, data: bytes, reason: str) -> Text:
    """A line for a frame that is not a valid Signal: where it came from and why."""
    text = Text()
    text.append("not a Signal", style="bold yellow")
    text.append(f"  on {subject}: {reason}  ")
    text.append(repr(data[:60]), style="dim")
    return text


class SignalFilter:
    """Which Signals a Doppler shows: any of ``types`` (all when empty), on ``trace``
    (a full trace id or any part of one), involving ``neuron`` (as target, producer or
    sending node)."""

    def __init__(
        self,
        types: Iterable[SignalType] = (),
        trace: str | None = None,
        neuron: str | None = None,
    ) -> None:
        self.types = frozenset(types)
        self.trace = trace
        self.neuron = neuron

    def matches(self, signal: Signal) -> bool:
        if self.types and signal.type not in self.types:
            return False
        if self.trace is not None and self.trace not in signal.trace_id:
            return False
        if self.neuron is not None:
            directed = signal.directed
            ids = {directed.id if directed is not None else None, signal.meta.get("node")}
            if self.neuron not in ids:
                return False
        return True
