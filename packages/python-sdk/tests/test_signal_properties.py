"""Property tests of the codec: anything encodable round-trips, and nothing a peer can
send makes ``Signal.decode`` raise anything but EnvelopeError."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from cosmonapse import Directed, EnvelopeError, Signal, SignalType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Text JSON can carry: every code point but lone surrogates.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=4)
ulids = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26)
event_ids = ulids.map(lambda u: "evt_" + u)
trace_ids = ulids.map(lambda u: "trc_" + u)

REQUIRED_OBJECT = {
    SignalType.TASK: "input",
    SignalType.AGENT_OUTPUT: "output",
    SignalType.FINAL: "result",
}


@st.composite
def signals(draw: st.DrawFn) -> Signal:
    kind = draw(st.sampled_from(list(SignalType)))
    payload = draw(json_objects)
    if kind in REQUIRED_OBJECT:
        payload[REQUIRED_OBJECT[kind]] = draw(json_objects)
    directed = draw(
        st.none()
        | st.builds(
            Directed,
            st.none() | text,
            st.none() | text,
            st.lists(text, max_size=4),
        )
    )
    return Signal(
        type=kind,
        payload=payload,
        meta=draw(json_objects),
        directed=directed,
        id=draw(event_ids),
        trace_id=draw(trace_ids),
        parent_id=draw(st.none() | event_ids),
        v=draw(st.sampled_from(["1", "1.0", "1.7"])),
        ts=draw(st.sampled_from(["2025-06-01T12:00:00.5Z", "2025-06-01T12:00:00.123456Z"])),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signals())
def test_encode_then_decode_is_identity(signal: Signal) -> None:
    data = signal.encode()
    back = Signal.decode(data)
    assert back == signal
    assert back.encode() == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoding_random_bytes_raises_only_envelope_error(data: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        Signal.decode(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_decoding_random_text_raises_only_envelope_error(data: str) -> None:
    with contextlib.suppress(EnvelopeError):
        Signal.decode(data)


FIELDS = ["v", "id", "trace_id", "parent_id", "type", "directed", "ts", "payload", "meta"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(list(SignalType)),
    st.dictionaries(
        st.sampled_from([*FIELDS, "directed.id", "directed.capabilities", "extra"]),
        json_values,
        max_size=4,
    ),
    st.sets(st.sampled_from(FIELDS), max_size=3),
    event_ids,
    trace_ids,
)
def test_decoding_mangled_envelopes_raises_only_envelope_error(
    kind: SignalType, replaced: dict[str, Any], removed: set[str], ident: str, trace: str
) -> None:
    """A valid envelope with some fields replaced by arbitrary JSON or removed."""
    raw: dict[str, Any] = {
        "v": "1",
        "id": ident,
        "trace_id": trace,
        "parent_id": None,
        "type": kind.value,
        "directed": {"id": "x", "type": None, "capabilities": ["a"]},
        "ts": "2025-01-01T00:00:00.000Z",
        "payload": {"input": {}, "output": {}, "result": {}},
        "meta": {},
    }
    for name, value in replaced.items():
        if name.startswith("directed."):
            if isinstance(raw.get("directed"), dict):
                raw["directed"][name.split(".", 1)[1]] = value
        else:
            raw[name] = value
    for name in removed:
        raw.pop(name, None)
    try:
        signal = Signal.decode(orjson.dumps(raw))
    except EnvelopeError:
        return
    # Whatever was accepted is a well-formed Signal that encodes again.
    assert isinstance(signal.payload, dict) and isinstance(signal.meta, dict)
    Signal.decode(signal.encode())
