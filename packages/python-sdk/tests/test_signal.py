"""The Signal envelope and its codec (docs/protocol.md section 1).

Encoding emits every field; decoding is strict and says which field broke the rules.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from cosmonapse import (
    PROTOCOL_VERSION,
    Directed,
    EnvelopeError,
    Signal,
    SignalType,
    UnsupportedVersionError,
    new_event_id,
    new_trace_id,
)

FIELDS = ["v", "id", "trace_id", "parent_id", "type", "directed", "ts", "payload", "meta"]

# Payload keys the protocol requires as objects.
REQUIRED_OBJECT = {
    SignalType.TASK: "input",
    SignalType.AGENT_OUTPUT: "output",
    SignalType.FINAL: "result",
}


def envelope(**overrides: Any) -> dict[str, Any]:
    """A valid TASK envelope as a plain dict, with ``overrides`` applied."""
    raw: dict[str, Any] = {
        "v": "1",
        "id": new_event_id(),
        "trace_id": new_trace_id(),
        "parent_id": None,
        "type": "TASK",
        "directed": {"id": "echo", "type": None, "capabilities": []},
        "ts": "2025-01-02T03:04:05.123456Z",
        "payload": {"input": {"prompt": "hi"}},
        "meta": {},
    }
    raw.update(overrides)
    return raw


def without(name: str) -> bytes:
    raw = envelope()
    del raw[name]
    return orjson.dumps(raw)


def decode_error(data: bytes | str) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as info:
        Signal.decode(data)
    return info.value


def payload_for(kind: SignalType) -> dict[str, Any]:
    payload: dict[str, Any] = {"note": kind.value.lower()}
    if kind in REQUIRED_OBJECT:
        payload[REQUIRED_OBJECT[kind]] = {"k": [1, 2.5, None, True, "x"]}
    return payload


# -- round trip ------------------------------------------------------------------------


def test_there_are_31_signal_types() -> None:
    assert len(SignalType) == 31
    assert all(t.value == t.name == t.value.upper() for t in SignalType)


@pytest.mark.parametrize("kind", list(SignalType), ids=lambda t: t.value)
def test_every_signal_type_round_trips(kind: SignalType) -> None:
    signal = Signal(
        type=kind,
        payload=payload_for(kind),
        parent_id=new_event_id(),
        directed=Directed("who", "kind", ["a", "b"]),
        meta={"attempt": 2, "tokens.in": 12},
    )
    back = Signal.decode(signal.encode())
    assert back == signal
    assert back.type is kind


def test_round_trip_with_every_optional_field_null() -> None:
    signal = Signal(type=SignalType.HEARTBEAT, payload={"status": "ok"})
    back = Signal.decode(signal.encode())
    assert back == signal
    assert back.parent_id is None and back.directed is None


def test_encode_emits_every_field_including_nulls() -> None:
    signal = Signal(type=SignalType.TASK, payload={"input": {}})
    raw = orjson.loads(signal.encode())
    assert list(raw) == FIELDS
    assert raw["v"] == PROTOCOL_VERSION == "1"
    assert raw["parent_id"] is None
    assert raw["directed"] is None
    assert raw["meta"] == {}
    assert raw["type"] == "TASK"
    assert raw["id"].startswith("evt_") and raw["trace_id"].startswith("trc_")
    assert raw["ts"].endswith("Z")


def test_encode_emits_directed_with_all_three_keys() -> None:
    signal = Signal(type=SignalType.RECALL, payload={}, directed=Directed(type="semantic"))
    raw = orjson.loads(signal.encode())
    assert raw["directed"] == {"id": None, "type": "semantic", "capabilities": []}


def test_encode_is_compact_utf8() -> None:
    signal = Signal(type=SignalType.TASK, payload={"input": {"text": "héllo ✓"}})
    data = signal.encode()
    assert isinstance(data, bytes)
    assert b": " not in data and b", " not in data
    assert "héllo ✓".encode() in data


def test_encode_of_unencodable_payload_raises_envelope_error() -> None:
    signal = Signal(type=SignalType.TASK, payload={"input": {"x": object()}})
    with pytest.raises(EnvelopeError):
        signal.encode()


def test_decode_accepts_str_bytearray_and_memoryview() -> None:
    data = Signal(type=SignalType.TASK, payload={"input": {}}).encode()
    for form in (data, data.decode(), bytearray(data), memoryview(data)):
        assert Signal.decode(form).payload == {"input": {}}


# -- rejecting malformed frames ----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"{", b'{"v": "1",}', b"\x00\x01", "{'v': '1'}"],
    ids=["empty", "text", "truncated", "trailing-comma", "binary", "python-repr"],
)
def test_decode_rejects_non_json(data: bytes | str) -> None:
    error = decode_error(data)
    assert error.field is None
    assert "JSON" in str(error)


def test_decode_rejects_invalid_utf8() -> None:
    good = orjson.dumps(envelope())
    # A lone continuation byte inside a string value.
    bad = good.replace(b'"hi"', b'"h\xffi"')
    assert bad != good
    error = decode_error(bad)
    assert error.field is None


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"[]", "an array"),
        (b'[{"v":"1"}]', "an array"),
        (b'"TASK"', "a string"),
        (b"42", "a number"),
        (b"1.5", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
    ],
)
def test_decode_rejects_non_objects(data: bytes, kind: str) -> None:
    error = decode_error(data)
    assert error.field is None
    assert "must be a JSON object" in str(error)
    assert kind in str(error)


@pytest.mark.parametrize("name", ["v", "id", "trace_id", "type", "ts", "payload"])
def test_decode_rejects_each_missing_required_field(name: str) -> None:
    error = decode_error(without(name))
    assert error.field == name
    assert "missing" in str(error)
    assert repr(name) in str(error)


WRONG_TYPES: list[tuple[str, Any, str]] = [
    ("v", 1, "v"),
    ("v", None, "v"),
    ("id", 17, "id"),
    ("id", None, "id"),
    ("trace_id", ["trc_"], "trace_id"),
    ("parent_id", 5, "parent_id"),
    ("parent_id", {"id": "x"}, "parent_id"),
    ("type", 3, "type"),
    ("type", None, "type"),
    ("directed", "echo", "directed"),
    ("directed", ["echo"], "directed"),
    ("directed", {"id": 5, "type": None, "capabilities": []}, "directed.id"),
    ("directed", {"id": None, "type": 5, "capabilities": []}, "directed.type"),
    ("directed", {"id": None, "type": None, "capabilities": "chat"}, "directed.capabilities"),
    ("directed", {"id": None, "type": None, "capabilities": ["chat", 1]}, "directed.capabilities"),
    ("ts", 1700000000, "ts"),
    ("ts", None, "ts"),
    ("payload", [], "payload"),
    ("payload", "x", "payload"),
    ("payload", None, "payload"),
    ("meta", [], "meta"),
    ("meta", "x", "meta"),
    ("meta", 3, "meta"),
]


@pytest.mark.parametrize(
    ("name", "value", "field"), WRONG_TYPES, ids=[f"{n}={v!r}" for n, v, _ in WRONG_TYPES]
)
def test_decode_rejects_each_wrong_typed_field(name: str, value: Any, field: str) -> None:
    error = decode_error(orjson.dumps(envelope(**{name: value})))
    assert error.field == field
    assert field.split(".")[0] in str(error)


def _ulid() -> str:
    return new_event_id()[4:]


BAD_IDS: list[tuple[str, str]] = [
    ("id", "trc_" + _ulid()),
    ("id", "evt-" + _ulid()),
    ("id", _ulid()),
    ("id", "evt_" + _ulid()[:-1]),
    ("id", "evt_" + _ulid() + "0"),
    ("id", "evt_" + "U" * 26),  # 'U' is not Crockford base32
    ("id", "evt_" + "!" * 26),
    ("trace_id", "evt_" + _ulid()),
    ("trace_id", "trc_"),
    ("trace_id", "trace-1"),
    ("parent_id", "trc_" + _ulid()),
    ("parent_id", ""),
]


@pytest.mark.parametrize(("name", "value"), BAD_IDS, ids=[f"{n}={v}" for n, v in BAD_IDS])
def test_decode_rejects_bad_id_prefixes(name: str, value: str) -> None:
    error = decode_error(orjson.dumps(envelope(**{name: value})))
    assert error.field == name
    assert "ULID" in str(error)


def test_decode_accepts_lower_case_ulids() -> None:
    raw = envelope(id="evt_" + _ulid().lower(), parent_id="evt_" + _ulid())
    assert Signal.decode(orjson.dumps(raw)).id == raw["id"]


@pytest.mark.parametrize("name", ["NOPE", "task", "Task", "", "TASK ", "STOPPED\n"])
def test_decode_rejects_unknown_types(name: str) -> None:
    error = decode_error(orjson.dumps(envelope(type=name)))
    assert error.field == "type"
    assert "unknown" in str(error)


@pytest.mark.parametrize("version", ["2", "2.0", "0", "0.9", "10", "1.", "", "v1", "11.0"])
def test_decode_rejects_other_major_versions(version: str) -> None:
    with pytest.raises(UnsupportedVersionError) as info:
        Signal.decode(orjson.dumps(envelope(v=version)))
    assert info.value.field == "v"
    assert isinstance(info.value, EnvelopeError)
    assert "version" in str(info.value)


@pytest.mark.parametrize("version", ["1", "1.0", "1.3", "1.42"])
def test_decode_accepts_minor_versions_of_1(version: str) -> None:
    assert Signal.decode(orjson.dumps(envelope(v=version))).v == version


@pytest.mark.parametrize(
    "ts",
    ["2025-01-02T03:04:05.123Z", "2025-01-02T03:04:05.123456Z", "2025-01-02T03:04:05Z"],
    ids=["milliseconds", "microseconds", "seconds"],
)
def test_decode_accepts_ms_and_us_timestamps(ts: str) -> None:
    assert Signal.decode(orjson.dumps(envelope(ts=ts))).ts == ts


@pytest.mark.parametrize(
    "ts",
    [
        "2025-01-02 03:04:05Z",
        "2025-01-02T03:04:05",
        "2025-01-02T03:04:05+02:00",
        "yesterday",
        "2025-01-02",
    ],
)
def test_decode_rejects_malformed_timestamps(ts: str) -> None:
    assert decode_error(orjson.dumps(envelope(ts=ts))).field == "ts"


def test_generated_timestamps_are_rfc3339_utc_microseconds() -> None:
    ts = Signal(type=SignalType.HEARTBEAT).ts
    assert len(ts) == len("2025-01-02T03:04:05.123456Z")
    assert ts[10] == "T" and ts.endswith("Z")
    Signal.decode(orjson.dumps(envelope(ts=ts)))


def test_unknown_payload_and_meta_keys_are_kept() -> None:
    raw = envelope(
        payload={"input": {"a": 1}, "x-future": {"nested": [1]}, "context_ref": "c"},
        meta={"attempt": 1, "tokens.in": 3, "vendor": {"k": "v"}},
    )
    signal = Signal.decode(orjson.dumps(raw))
    assert signal.payload == raw["payload"]
    assert signal.meta == raw["meta"]
    assert orjson.loads(signal.encode())["payload"]["x-future"] == {"nested": [1]}


def test_unknown_top_level_keys_are_ignored() -> None:
    signal = Signal.decode(orjson.dumps(envelope(extension="later")))
    assert signal.type is SignalType.TASK


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("TASK", {}),
        ("TASK", {"input": None}),
        ("TASK", {"input": "do it"}),
        ("TASK", {"input": ["a"]}),
        ("AGENT_OUTPUT", {}),
        ("AGENT_OUTPUT", {"output": "text"}),
        ("FINAL", {"result": 3}),
    ],
)
def test_decode_rejects_a_required_payload_object_that_is_missing(
    kind: str, payload: dict[str, Any]
) -> None:
    error = decode_error(orjson.dumps(envelope(type=kind, payload=payload)))
    expected = f"payload.{REQUIRED_OBJECT[SignalType(kind)]}"
    assert error.field == expected
    assert expected in str(error)


def test_a_type_without_required_payload_keys_accepts_an_empty_payload() -> None:
    for kind in SignalType:
        if kind not in REQUIRED_OBJECT:
            assert Signal.decode(orjson.dumps(envelope(type=kind.value, payload={}))).type is kind


def test_error_messages_truncate_huge_values() -> None:
    error = decode_error(orjson.dumps(envelope(id="x" * 100_000)))
    assert len(str(error)) < 300


# -- Python API ------------------------------------------------------------------------


def test_neuron_is_directed_id() -> None:
    signal = Signal(
        type=SignalType.AGENT_OUTPUT,
        payload={"output": {}},
        directed=Directed("worker-a", None, ["chat"]),
    )
    assert signal.neuron == "worker-a"
    assert Signal(type=SignalType.AGENT_OUTPUT, payload={"output": {}}).neuron is None
    assert Signal(type=SignalType.REGISTER, directed=Directed(type="semantic")).neuron is None
    decoded = Signal.decode(orjson.dumps(envelope(directed={"id": "w", "capabilities": []})))
    assert decoded.neuron == "w"


def test_reply_keeps_the_trace_and_points_at_its_parent() -> None:
    task = Signal(type=SignalType.TASK, payload={"input": {}})
    reply = task.reply(
        SignalType.AGENT_OUTPUT, {"output": {"a": 1}}, directed=Directed("w"), meta={"attempt": 1}
    )
    assert reply.trace_id == task.trace_id
    assert reply.parent_id == task.id
    assert reply.id != task.id
    assert reply.neuron == "w"
    assert reply.meta == {"attempt": 1}
    assert Signal.decode(reply.encode()) == reply


def test_fresh_ids_are_unique_and_sortable() -> None:
    ids = [new_event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    traces = [new_trace_id() for _ in range(2000)]
    assert len(set(traces)) == len(traces)
    for ident in ids[:50]:
        Signal.decode(orjson.dumps(envelope(id=ident)))
