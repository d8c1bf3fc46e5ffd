"""Hot paths spelled out for speed, checked against the plain code they stand for:
Reply.of, Signal.encode (to_dict inlined), the Dendrite's decode of a frame and the
bounded sets of ids known to be well formed."""

from __future__ import annotations

from dataclasses import fields

import orjson
import pytest
from cosmonapse import Directed, EnvelopeError, Reply, Signal, SignalType
from cosmonapse.builders import agent_output_signal, task_signal


def test_reply_of_copies_every_field_of_a_signal_and_leaves_it_alone() -> None:
    task = task_signal(input={"x": 1}, neuron="n", meta={"attempt": 2})
    answer = agent_output_signal(task, output={"y": 2}, producer="n", meta={"node": "w"})
    reply = Reply.of(answer)
    assert type(reply) is Reply and type(answer) is Signal
    for f in fields(Signal):
        assert getattr(reply, f.name) is getattr(answer, f.name), f.name
    assert Reply.of(reply) is reply
    assert reply == answer


@pytest.mark.parametrize(
    "signal",
    [
        task_signal(input={"x": [1, "é"]}, neuron="n", capabilities=["b", "a"], meta={"k": 1}),
        Signal(type=SignalType.PLAN),
        Signal(type=SignalType.RECALL, directed=Directed(type="semantic"), parent_id=None),
        Signal(type=SignalType.STOP, payload={"reason": None}, meta={"attempt": 2}),
    ],
)
def test_encode_writes_exactly_the_json_of_to_dict(signal: Signal) -> None:
    assert signal.encode() == orjson.dumps(signal.to_dict())
    assert Signal.decode(signal.encode()) == signal


def test_encode_still_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(EnvelopeError):
        Signal(type=SignalType.PLAN, payload={"x": object()}).encode()
    with pytest.raises(AttributeError):  # not a SignalType: as to_dict() would
        Signal(type="PLAN").encode()  # type: ignore[arg-type]


def test_the_sets_of_known_ids_stay_bounded() -> None:
    """Ids and timestamps a process made or matched skip the regexes; the sets holding
    them are cleared at their limit, so making many Signals holds no more than that."""
    from cosmonapse import _id_forms

    limit = _id_forms.KNOWN_LIMIT
    for _ in range(limit * 2 + 10):
        sig = task_signal(input={}, neuron="n")
        assert Signal.decode(sig.encode()) == sig
    for known in (
        _id_forms.known_event_ids,
        _id_forms.known_trace_ids,
        _id_forms.known_ts,
    ):
        assert 0 < len(known) <= limit
