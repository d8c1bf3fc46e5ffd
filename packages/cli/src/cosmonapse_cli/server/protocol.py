"""Lines of the dev-synapse wire (docs/protocol.md section 4): parsing requests, encoding replies.

Every client line is one JSON object with an ``op``. :func:`parse_request` turns it into
one of the request classes below or raises :class:`~cosmonapse_cli.exceptions.ProtocolError`
whose message is the text of the ``err`` line the server sends back: it names what was
wrong (not UTF-8, not JSON, not an object, which op, which field, which subject).

Parsing is strict about what routing needs and liberal elsewhere: unknown keys are
ignored, ``queue_group`` may be missing, and a ``frame`` sent as a JSON object rather than
a string is accepted and forwarded as its compact JSON text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from cosmonapse import SubjectError
from cosmonapse.subjects import (
    MAX_NAME_LENGTH,
    validate_namespace,
    validate_queue_group,
    validate_subject,
)

from ..exceptions import ProtocolError

__all__ = [
    "Hello",
    "MgmtInfo",
    "MgmtList",
    "MgmtStop",
    "NsRegister",
    "Ping",
    "Pub",
    "Request",
    "Sub",
    "Unsub",
    "encode_reply",
    "msg_head",
    "msg_tail",
    "parse_request",
]


@dataclass(frozen=True, slots=True)
class Hello:
    """``{"op":"hello"}``, optionally with ``"token"``; answered with ``welcome``.

    ``token`` is this project's extension of the wire: a server started with a token
    checks it, any other server ignores it. Its ``repr`` never shows the value.
    """

    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Ping:
    """``{"op":"ping"}``; answered with ``pong``."""


@dataclass(frozen=True, slots=True)
class Pub:
    """Publish ``frame`` (the Signal's JSON text) on ``subject`` (no wildcards)."""

    subject: str
    frame: str


@dataclass(frozen=True, slots=True)
class Sub:
    """Subscribe ``sub_id`` to ``subject`` (wildcards allowed), optionally in a queue group."""

    sub_id: str
    subject: str
    queue_group: str | None


@dataclass(frozen=True, slots=True)
class Unsub:
    """End subscription ``sub_id``; unknown ids are ignored (unsubscribing is idempotent)."""

    sub_id: str


@dataclass(frozen=True, slots=True)
class NsRegister:
    """Declare a namespace; answered with ``ns_registered``."""

    namespace: str
    transport: str


@dataclass(frozen=True, slots=True)
class MgmtList:
    """List namespaces; answered with ``mgmt_ns_list``."""


@dataclass(frozen=True, slots=True)
class MgmtInfo:
    """Counts for one namespace; answered with ``mgmt_ns_info``."""

    namespace: str


@dataclass(frozen=True, slots=True)
class MgmtStop:
    """Stop a namespace; answered with ``mgmt_stop_ack``."""

    namespace: str


Request = Hello | Ping | Pub | Sub | Unsub | NsRegister | MgmtList | MgmtInfo | MgmtStop

_HELLO: Final = Hello()
_PING: Final = Ping()
_MGMT_LIST: Final = MgmtList()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number"


def _string(raw: dict[str, Any], op: str, name: str) -> str:
    if name not in raw:
        raise ProtocolError(f"{op}: missing field {name!r}")
    value = raw[name]
    if type(value) is not str:
        raise ProtocolError(f"{op}: field {name!r} must be a string, got {_kind(value)}")
    if not value:
        raise ProtocolError(f"{op}: field {name!r} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ProtocolError(
            f"{op}: field {name!r} is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    return value


def _subject(raw: dict[str, Any], op: str, *, wildcards: bool) -> str:
    subject = _string(raw, op, "subject")
    try:
        return validate_subject(subject, wildcards=wildcards)
    except SubjectError as exc:
        raise ProtocolError(f"{op}: invalid subject {subject[:200]!r}: {exc}") from None


def _namespace(raw: dict[str, Any], op: str) -> str:
    namespace = _string(raw, op, "namespace")
    try:
        return validate_namespace(namespace)
    except SubjectError as exc:
        raise ProtocolError(f"{op}: invalid namespace: {exc}") from None


def _parse_pub(raw: dict[str, Any]) -> Pub:
    subject = _subject(raw, "pub", wildcards=False)
    if "frame" not in raw:
        raise ProtocolError("pub: missing field 'frame'")
    frame = raw["frame"]
    if type(frame) is not str:
        if type(frame) is not dict:
            raise ProtocolError(
                f"pub: field 'frame' must be a string (the Signal's JSON text), got {_kind(frame)}"
            )
        try:
            frame = orjson.dumps(frame).decode()
        except orjson.JSONEncodeError as exc:  # nested deeper than orjson writes (254 levels)
            raise ProtocolError(
                f"pub: field 'frame' cannot be forwarded as text ({exc}); send the Signal's "
                "JSON text as a string"
            ) from None
    return Pub(subject, frame)


def _parse_sub(raw: dict[str, Any]) -> Sub:
    sub_id = _string(raw, "sub", "sub_id")
    subject = _subject(raw, "sub", wildcards=True)
    group = raw.get("queue_group")
    if group is not None:
        if type(group) is not str:
            raise ProtocolError(
                f"sub: field 'queue_group' must be a string or null, got {_kind(group)}"
            )
        try:
            validate_queue_group(group)
        except SubjectError as exc:
            raise ProtocolError(f"sub: invalid queue_group: {exc}") from None
    return Sub(sub_id, subject, group)


def _parse_hello(raw: dict[str, Any]) -> Hello:
    token = raw.get("token")
    if token is None:
        return _HELLO
    if type(token) is not str:
        # The value is never echoed: it may be a secret sent the wrong way.
        raise ProtocolError(f"hello: field 'token' must be a string, got {_kind(token)}")
    return Hello(token)


def _parse_ns_register(raw: dict[str, Any]) -> NsRegister:
    namespace = _namespace(raw, "ns_register")
    transport = raw.get("transport", "memory")
    if type(transport) is not str:
        raise ProtocolError(
            f"ns_register: field 'transport' must be a string, got {_kind(transport)}"
        )
    return NsRegister(namespace, transport)


_PARSERS: Final[dict[str, Callable[[dict[str, Any]], Request]]] = {
    "hello": _parse_hello,
    "ping": lambda raw: _PING,
    "pub": _parse_pub,
    "sub": _parse_sub,
    "unsub": lambda raw: Unsub(_string(raw, "unsub", "sub_id")),
    "ns_register": _parse_ns_register,
    "mgmt_list": lambda raw: _MGMT_LIST,
    "mgmt_info": lambda raw: MgmtInfo(_namespace(raw, "mgmt_info")),
    "mgmt_stop": lambda raw: MgmtStop(_namespace(raw, "mgmt_stop")),
}
_OPS: Final = ", ".join(_PARSERS)


def parse_request(line: bytes) -> Request:
    """Parse one client line (without its newline).

    Raises :class:`~cosmonapse_cli.exceptions.ProtocolError` saying which rule broke:
    invalid UTF-8, malformed JSON, not an object, missing or unknown ``op``, a missing or
    wrong-typed field, an invalid subject, namespace or queue group.
    """
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ProtocolError(
                f"line is not valid UTF-8 (byte {line[bad.start]:#04x} at offset {bad.start})"
            ) from None
        raise ProtocolError(f"malformed JSON: {exc}") from None
    if type(raw) is not dict:
        raise ProtocolError(f"each line must be a JSON object, got {_kind(raw)}")
    op = raw.get("op")
    if op is None:
        raise ProtocolError("missing field 'op'")
    if type(op) is not str:
        raise ProtocolError(f"field 'op' must be a string, got {_kind(op)}")
    parser = _PARSERS.get(op)
    if parser is None:
        raise ProtocolError(f"unknown op {op[:80]!r} (known ops: {_OPS})")
    return parser(raw)


def encode_reply(op: str, **fields: Any) -> bytes:
    """One server line: ``{"op": op, **fields}`` as compact JSON plus ``\\n``."""
    return orjson.dumps({"op": op, **fields}) + b"\n"


def msg_head(sub_id: str) -> bytes:
    """The per-subscription start of a ``msg`` line, computed once per subscription."""
    return b'{"op":"msg","sub_id":' + orjson.dumps(sub_id)


def msg_tail(subject: str, frame: str) -> bytes:
    """The per-publish rest of a ``msg`` line, computed once and shared by every receiver."""
    return b',"subject":' + orjson.dumps(subject) + b',"frame":' + orjson.dumps(frame) + b"}\n"
