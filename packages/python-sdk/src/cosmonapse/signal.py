"""The Signal envelope, version 1 (docs/protocol.md section 1), and its codec.

A Signal is one message on the bus. :meth:`Signal.encode` writes compact JSON with every
field present; :meth:`Signal.decode` is strict: it rejects non-JSON, a non-object, a
missing or wrong-typed field, a bad id prefix, an unknown type and a wrong major version,
with an :class:`~cosmonapse.EnvelopeError` whose ``field`` names the culprit. Unknown keys
inside ``payload`` and ``meta`` are kept and ignored, as the protocol requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from ._clock import now_ts
from ._id_forms import (
    EVENT_ID_RE,
    KNOWN_LIMIT,
    TRACE_ID_RE,
    TS_RE,
    known_event_ids,
    known_trace_ids,
    known_ts,
    matches_event_id,
    matches_trace_id,
    matches_ts,
    remember,
)
from ._ids import new_event_id, new_trace_id
from .exceptions import EnvelopeError, UnsupportedVersionError

__all__ = ["PROTOCOL_VERSION", "Directed", "Signal", "SignalType"]

PROTOCOL_VERSION = "1"


class SignalType(StrEnum):
    """The 31 Signal types of the published protocol, version 1."""

    # lifecycle
    TASK = "TASK"
    AGENT_OUTPUT = "AGENT_OUTPUT"
    FINAL = "FINAL"
    ERROR = "ERROR"
    # routing by offer
    TASK_OFFER = "TASK_OFFER"
    BID = "BID"
    TASK_AWARDED = "TASK_AWARDED"
    TASK_DECLINED = "TASK_DECLINED"
    # cognition
    THOUGHT_DELTA = "THOUGHT_DELTA"
    PLAN = "PLAN"
    TOOL_CALL = "TOOL_CALL"
    TOOL_RESULT = "TOOL_RESULT"
    MEMORY_APPEND = "MEMORY_APPEND"
    ESCALATION = "ESCALATION"
    # engrams
    RECALL = "RECALL"
    RECALLED = "RECALLED"
    IMPRINT = "IMPRINT"
    IMPRINTED = "IMPRINTED"
    # coordination
    CONSENSUS = "CONSENSUS"
    CONTEXT_SYNC = "CONTEXT_SYNC"
    CRITIQUE = "CRITIQUE"
    CLARIFICATION = "CLARIFICATION"
    CLARIFICATION_ANSWER = "CLARIFICATION_ANSWER"
    PERMISSION = "PERMISSION"
    PERMISSION_DECISION = "PERMISSION_DECISION"
    # membership
    REGISTER = "REGISTER"
    DEREGISTER = "DEREGISTER"
    HEARTBEAT = "HEARTBEAT"
    DISCOVER = "DISCOVER"
    # workflow control
    STOP = "STOP"
    STOPPED = "STOPPED"


_TYPES: dict[str, SignalType] = {t.value: t for t in SignalType}
_TYPE_VALUES: dict[SignalType, str] = {t: t.value for t in SignalType}

# Payload keys the protocol marks as required objects, per type.
_REQUIRED_OBJECTS: dict[SignalType, str] = {
    SignalType.TASK: "input",
    SignalType.AGENT_OUTPUT: "output",
    SignalType.FINAL: "result",
}

_match_event_id = EVENT_ID_RE.match
_match_trace_id = TRACE_ID_RE.match
_match_ts = TS_RE.match
_object_new = object.__new__
_dumps = orjson.dumps


@dataclass(slots=True)
class Directed:
    """Addressing: a participant ``id``, a kind ``type``, or a set of ``capabilities``
    the receiver must cover. On replies it carries the producer's identity."""

    id: str | None = None
    type: str | None = None
    capabilities: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "capabilities": self.capabilities}

    @classmethod
    def from_dict(cls, raw: Any) -> Directed:
        if type(raw) is not dict:
            raise EnvelopeError("field 'directed' must be an object or null", field="directed")
        ident = raw.get("id")
        kind = raw.get("type")
        caps = raw.get("capabilities")
        if ident is not None and type(ident) is not str:
            raise EnvelopeError("field 'directed.id' must be a string or null", field="directed.id")
        if kind is not None and type(kind) is not str:
            raise EnvelopeError(
                "field 'directed.type' must be a string or null", field="directed.type"
            )
        if caps is None:
            caps = []
        elif type(caps) is not list or not all(type(c) is str for c in caps):
            raise EnvelopeError(
                "field 'directed.capabilities' must be a list of strings",
                field="directed.capabilities",
            )
        return cls(ident, kind, caps)


@dataclass(slots=True, kw_only=True)
class Signal:
    """One message on the bus.

    Build one with keywords (``Signal(type=SignalType.TASK, payload={"input": {}})``) or
    with the builders in :mod:`cosmonapse.builders`; ``id``, ``trace_id`` and ``ts`` are
    filled in when omitted. Fields are plain attributes; treat a Signal that was
    published as immutable.
    """

    v: str = PROTOCOL_VERSION
    id: str = field(default_factory=new_event_id)
    trace_id: str = field(default_factory=new_trace_id)
    parent_id: str | None = None
    type: SignalType
    directed: Directed | None = None
    ts: str = field(default_factory=now_ts)
    payload: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def neuron(self) -> str | None:
        """Who this Signal is addressed to or, on a reply, who produced it
        (``directed.id``)."""
        directed = self.directed
        return directed.id if directed is not None else None

    def reply(
        self,
        type: SignalType,
        payload: dict[str, Any] | None = None,
        *,
        directed: Directed | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Signal:
        """A new Signal on this one's trace, with ``parent_id`` set to this one's id."""
        return fresh_signal(
            type,
            payload if payload is not None else {},
            self.trace_id,
            self.id,
            directed,
            meta if meta is not None else {},
        )

    # -- codec -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict with every field, in protocol order."""
        directed = self.directed
        return {
            "v": self.v,
            "id": self.id,
            "trace_id": self.trace_id,
            "parent_id": self.parent_id,
            "type": self.type.value,
            "directed": None if directed is None else directed.to_dict(),
            "ts": self.ts,
            "payload": self.payload,
            "meta": self.meta,
        }

    def encode(self) -> bytes:
        """Compact UTF-8 JSON.

        Raises :class:`~cosmonapse.EnvelopeError` when the payload or meta holds
        something JSON cannot carry.
        """
        # to_dict(), inlined: three calls fewer on every send, the same bytes
        kind = self.type
        directed = self.directed
        try:
            return _dumps(
                {
                    "v": self.v,
                    "id": self.id,
                    "trace_id": self.trace_id,
                    "parent_id": self.parent_id,
                    "type": _TYPE_VALUES[kind] if type(kind) is SignalType else kind.value,
                    "directed": None
                    if directed is None
                    else {
                        "id": directed.id,
                        "type": directed.type,
                        "capabilities": directed.capabilities,
                    },
                    "ts": self.ts,
                    "payload": self.payload,
                    "meta": self.meta,
                }
            )
        except TypeError as exc:
            raise EnvelopeError(f"Signal cannot be encoded as JSON: {exc}") from None

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview | str) -> Signal:
        """Parse and validate one Signal.

        Raises :class:`~cosmonapse.EnvelopeError` (``field`` set) on any violation of
        docs/protocol.md section 1, :class:`~cosmonapse.UnsupportedVersionError` on a major
        version other than 1.
        """
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(_not_json(data, exc)) from None
        if type(raw) is not dict:
            raise EnvelopeError(
                f"a Signal must be a JSON object, got {_json_kind(raw)}", field=None
            )
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Signal:
        """Validate an already-parsed envelope (see :meth:`decode`)."""
        # One pass of cheap checks for the envelope every well-behaved peer sends (all nine
        # fields present, as encode() writes them); any doubt falls through to _check,
        # which finds the culprit and raises (or accepts what the protocol allows).
        try:
            v = raw["v"]
            ident = raw["id"]
            trace_id = raw["trace_id"]
            parent_id = raw["parent_id"]
            type_name = raw["type"]
            directed = raw["directed"]
            ts = raw["ts"]
            payload = raw["payload"]
            meta = raw["meta"]
        except KeyError:
            return _check(raw)
        signal_type = _TYPES.get(type_name) if type(type_name) is str else None
        if (
            signal_type is not None
            and v == "1"
            and type(ident) is str
            and (ident in known_event_ids or matches_event_id(ident))
            and type(trace_id) is str
            and (trace_id in known_trace_ids or matches_trace_id(trace_id))
            and (
                parent_id is None
                or (
                    type(parent_id) is str
                    and (parent_id in known_event_ids or matches_event_id(parent_id))
                )
            )
            and type(ts) is str
            and (ts in known_ts or matches_ts(ts))
            and type(payload) is dict
            and type(meta) is dict
        ):
            if directed is not None:
                try:
                    d_id = directed["id"]
                    d_type = directed["type"]
                    caps = directed["capabilities"]
                except (KeyError, TypeError):
                    caps = None  # not the common shape: let from_dict judge it
                    d_id = d_type = 0
                if (
                    type(directed) is dict
                    and (d_id is None or type(d_id) is str)
                    and (d_type is None or type(d_type) is str)
                    and type(caps) is list
                    and (not caps or all(type(c) is str for c in caps))
                ):
                    directed = _new_directed(d_id, d_type, caps)
                else:
                    directed = Directed.from_dict(directed)
            required = _REQUIRED_OBJECTS.get(signal_type)
            if required is None or type(payload.get(required)) is dict:
                return _new_signal(
                    v, ident, trace_id, parent_id, signal_type, directed, ts, payload, meta
                )
        return _check(raw)


def well_formed(signal: Signal) -> bool:
    """True when ``signal`` is an envelope :meth:`Signal.decode` would take as it is, every
    field of the right type and form (what the fast path of :meth:`Signal.from_dict`
    checks on the parsed dict, checked here on the object). A transport may then carry a
    snapshot of it instead of its bytes: the receiver would find nothing to refuse."""
    v = signal.v
    ident = signal.id
    trace_id = signal.trace_id
    parent_id = signal.parent_id
    ts = signal.ts
    payload = signal.payload
    if not (
        type(v) is str
        and v == "1"
        and type(signal.type) is SignalType
        and type(ident) is str
        and (ident in known_event_ids or matches_event_id(ident))
        and type(trace_id) is str
        and (trace_id in known_trace_ids or matches_trace_id(trace_id))
        and (
            parent_id is None
            or (
                type(parent_id) is str
                and (parent_id in known_event_ids or matches_event_id(parent_id))
            )
        )
        and type(ts) is str
        and (ts in known_ts or matches_ts(ts))
        and type(payload) is dict
        and type(signal.meta) is dict
    ):
        return False
    directed = signal.directed
    if directed is not None:
        d_id = directed.id
        d_type = directed.type
        caps = directed.capabilities
        if not (
            type(directed) is Directed
            and (d_id is None or type(d_id) is str)
            and (d_type is None or type(d_type) is str)
            and type(caps) is list
            and (not caps or all(type(c) is str for c in caps))
        ):
            return False
    required = _REQUIRED_OBJECTS.get(signal.type)
    return required is None or type(payload.get(required)) is dict


def _new_directed(ident: str | None, kind: str | None, capabilities: list[str]) -> Directed:
    directed = _object_new(Directed)
    directed.id = ident
    directed.type = kind
    directed.capabilities = capabilities
    return directed


def _new_signal(
    v: str,
    ident: str,
    trace_id: str,
    parent_id: str | None,
    signal_type: SignalType,
    directed: Directed | None,
    ts: str,
    payload: dict[str, Any],
    meta: dict[str, Any],
) -> Signal:
    """A Signal from already-valid parts, without the dataclass ``__init__`` (a third of
    its cost); the hot paths build every Signal through here."""
    signal = _object_new(Signal)
    signal.v = v
    signal.id = ident
    signal.trace_id = trace_id
    signal.parent_id = parent_id
    signal.type = signal_type
    signal.directed = directed
    signal.ts = ts
    signal.payload = payload
    signal.meta = meta
    return signal


signal_from_parts = _new_signal
"""A Signal from already-valid parts (in field order), without the dataclass
``__init__``: for code that rebuilds a Signal it has checked, such as a snapshot."""

directed_from_parts = _new_directed
"""A Directed from already-valid parts, without the dataclass ``__init__``."""


def fresh_signal(
    signal_type: SignalType,
    payload: dict[str, Any],
    trace_id: str | None,
    parent_id: str | None,
    directed: Directed | None,
    meta: dict[str, Any],
) -> Signal:
    """A new Signal with a fresh id and timestamp (and trace id, when None): what
    ``Signal(...)`` gives, at a third of the cost. For the builders."""
    ident = new_event_id()
    ts = now_ts()
    if len(known_event_ids) >= KNOWN_LIMIT or len(known_ts) >= KNOWN_LIMIT:
        known_event_ids.clear()
        known_ts.clear()
    known_event_ids.add(ident)
    known_ts.add(ts)
    if trace_id is None:
        trace_id = new_trace_id()
        remember(known_trace_ids, trace_id)
    return _new_signal(
        PROTOCOL_VERSION, ident, trace_id, parent_id, signal_type, directed, ts, payload, meta
    )


def _check(raw: dict[str, Any]) -> Signal:
    """The slow, thorough validation: raise the error that names the first bad field."""
    get = raw.get
    v = get("v")
    if type(v) is not str:
        raise _missing_or_wrong(raw, "v", "a string")
    if v != "1" and not (v.startswith("1.") and len(v) > 2):
        raise UnsupportedVersionError(
            f"unsupported protocol version {v!r}: this library speaks version 1 "
            "(accepts '1' and '1.x')",
            field="v",
        )
    ident = get("id")
    if type(ident) is not str:
        raise _missing_or_wrong(raw, "id", "a string")
    if _match_event_id(ident) is None:
        raise EnvelopeError(
            f"field 'id' must be 'evt_' followed by a 26-character ULID, got {ident!r:.60}",
            field="id",
        )
    trace_id = get("trace_id")
    if type(trace_id) is not str:
        raise _missing_or_wrong(raw, "trace_id", "a string")
    if _match_trace_id(trace_id) is None:
        raise EnvelopeError(
            "field 'trace_id' must be 'trc_' followed by a 26-character ULID, "
            f"got {trace_id!r:.60}",
            field="trace_id",
        )
    parent_id = get("parent_id")
    if parent_id is not None:
        if type(parent_id) is not str:
            raise EnvelopeError("field 'parent_id' must be a string or null", field="parent_id")
        if _match_event_id(parent_id) is None:
            raise EnvelopeError(
                "field 'parent_id' must be 'evt_' followed by a 26-character ULID, "
                f"got {parent_id!r:.60}",
                field="parent_id",
            )
    type_name = get("type")
    if type(type_name) is not str:
        raise _missing_or_wrong(raw, "type", "a string")
    signal_type = _TYPES.get(type_name)
    if signal_type is None:
        raise EnvelopeError(
            f"field 'type' names an unknown Signal type {type_name!r:.40}", field="type"
        )
    directed_raw = get("directed")
    directed = None if directed_raw is None else Directed.from_dict(directed_raw)
    ts = get("ts")
    if type(ts) is not str:
        raise _missing_or_wrong(raw, "ts", "a string")
    if _match_ts(ts) is None:
        raise EnvelopeError(
            f"field 'ts' must be an RFC 3339 UTC time ending in 'Z', got {ts!r:.40}",
            field="ts",
        )
    payload = get("payload")
    if type(payload) is not dict:
        raise _missing_or_wrong(raw, "payload", "an object")
    meta = get("meta")
    if meta is None:
        meta = {}
    elif type(meta) is not dict:
        raise EnvelopeError("field 'meta' must be an object", field="meta")
    required = _REQUIRED_OBJECTS.get(signal_type)
    if required is not None and type(payload.get(required)) is not dict:
        raise EnvelopeError(
            f"a {type_name} needs an object in 'payload.{required}'",
            field=f"payload.{required}",
        )
    return _new_signal(v, ident, trace_id, parent_id, signal_type, directed, ts, payload, meta)


def _not_json(data: bytes | bytearray | memoryview | str, exc: orjson.JSONDecodeError) -> str:
    """Why ``data`` is not a Signal: its first byte that is not UTF-8, else the parser's
    reason (which reports bad UTF-8 as a surrogate problem at offset 0)."""
    if not isinstance(data, str):
        raw = bytes(data)
        try:
            raw.decode()
        except UnicodeDecodeError as bad:
            return f"Signal is not valid UTF-8: byte {raw[bad.start]:#04x} at offset {bad.start}"
    return f"Signal is not valid JSON: {exc}"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _missing_or_wrong(raw: dict[str, Any], name: str, expected: str) -> EnvelopeError:
    if name not in raw:
        return EnvelopeError(f"required field {name!r} is missing", field=name)
    return EnvelopeError(
        f"field {name!r} must be {expected}, got {_json_kind(raw[name])}", field=name
    )
