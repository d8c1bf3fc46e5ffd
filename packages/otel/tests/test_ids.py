"""The id derivation: what any process, or a person with the docs, computes alike."""

from __future__ import annotations

import hashlib

import pytest
from cosmonapse import new_event_id, new_trace_id
from cosmonapse_otel import dispatch_span_id, otel_span_id, otel_trace_id, run_span_id, ulid_value
from hypothesis import given
from hypothesis import strategies as st

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_a_known_ulid_decodes_to_its_128_bits() -> None:
    assert ulid_value("trc_00000000000000000000000001") == 1
    assert ulid_value("trc_0000000000000000000000000Z") == 31
    assert ulid_value("trc_00000000000000000000000010") == 32
    assert otel_trace_id("trc_7ZZZZZZZZZZZZZZZZZZZZZZZZZ") == 2**128 - 1
    # The ULID spec's example: 01ARZ3NDEKTSV4RRFFQ69G5FAV.
    assert ulid_value("01ARZ3NDEKTSV4RRFFQ69G5FAV") == 0x01563E3AB5D3D6764C61EFB99302BD5B


def test_lower_case_and_crockford_aliases_read_the_same() -> None:
    upper = "trc_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert ulid_value(upper.lower()) == ulid_value(upper)
    assert ulid_value("trc_0000000000000000000000000O") == 0
    assert (
        ulid_value("trc_0000000000000000000000000I")
        == ulid_value("trc_0000000000000000000000000L")
        == 1
    )


@pytest.mark.parametrize(
    "bad",
    ["", "trc_", "trc_0123", "trc_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "trc_0000000000000000000000000U"],
)
def test_what_is_not_a_ulid_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a ULID"):
        ulid_value(bad)


def test_the_zero_trace_id_is_refused() -> None:
    with pytest.raises(ValueError, match="zero"):
        otel_trace_id("trc_00000000000000000000000000")


@given(st.integers(min_value=1, max_value=2**128 - 1))
def test_trace_ids_round_trip(value: int) -> None:
    text = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))
    assert otel_trace_id(f"trc_{text}") == value


def test_span_ids_are_the_documented_hash() -> None:
    task = "evt_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    digest = hashlib.blake2b(f"dispatch:{task}".encode(), digest_size=8).digest()
    assert dispatch_span_id(task) == int.from_bytes(digest, "big")
    assert run_span_id(task) == otel_span_id(task, "run")
    assert dispatch_span_id(task) != run_span_id(task)
    with pytest.raises(ValueError, match="unknown span role"):
        otel_span_id(task, "bogus")


def test_fresh_ids_are_valid_and_distinct() -> None:
    traces = {otel_trace_id(new_trace_id()) for _ in range(1000)}
    assert len(traces) == 1000 and all(0 < t < 2**128 for t in traces)
    spans = {otel_span_id(new_event_id(), role) for _ in range(500) for role in ("dispatch", "run")}
    assert len(spans) == 1000 and all(0 < s < 2**64 for s in spans)
