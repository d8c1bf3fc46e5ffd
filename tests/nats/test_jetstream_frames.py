"""The durable layer's cheap read of a reply's ``parent_id`` (synapses/_js_signal.py)
agrees with decoding the frame, for this SDK's frames and for other encoders'."""

from __future__ import annotations

from typing import Any

import orjson
from cosmonapse import builders
from cosmonapse.synapses._js_signal import frame_fields, parent_of


def decoded(data: bytes) -> str | None:
    fields = frame_fields(data)
    return fields.parent_id if fields is not None else None


def test_a_reply_of_this_sdk() -> None:
    task = builders.task_signal(input={"q": 1}, neuron="echo")
    reply = builders.agent_output_signal(
        task, output={"parent_id": "not-this-one"}, producer="echo"
    ).encode()
    assert parent_of(reply) == task.id == decoded(reply)


def test_frames_without_a_parent() -> None:
    task = builders.task_signal(input={}, neuron="echo").encode()
    assert parent_of(task) is None
    assert parent_of(b"not json") is None
    assert parent_of(b'{"id": "a", "trace_id": "t"}') is None


def test_other_encoders_key_order_spacing_and_escapes() -> None:
    frames: list[dict[str, Any]] = [
        {"payload": {"parent_id": "nested"}, "id": "a", "trace_id": "t", "parent_id": "p1"},
        {"id": "a", "trace_id": "t", "parent_id": "p\\u00e9"},
        {"id": "a", "trace_id": "t", "parent_id": None, "meta": {"parent_id": "x"}},
    ]
    for raw in frames:
        data = orjson.dumps(raw)
        assert parent_of(data) == decoded(data) == raw["parent_id"]
    spaced = b'{"id": "a", "trace_id": "t", "parent_id": "p2"}'
    assert parent_of(spaced) == "p2"
