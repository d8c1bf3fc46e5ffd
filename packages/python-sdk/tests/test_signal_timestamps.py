"""Signal timestamps follow the clock, across seconds too (the formatted second is cached)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from cosmonapse import Signal, SignalType
from cosmonapse.builders import task_signal


def _parse(ts: str) -> float:
    assert ts.endswith("Z")
    return datetime.fromisoformat(ts[:-1]).replace(tzinfo=UTC).timestamp()


def test_timestamps_built_more_than_a_second_apart_differ_by_the_elapsed_time() -> None:
    t0 = time.time()
    first = Signal(type=SignalType.DISCOVER, payload={})
    first_task = task_signal(input={}, neuron="n")
    # Wait (on the clock, not a fixed sleep) until a new second has surely begun.
    while time.time() < t0 + 1.2:
        time.sleep(0.01)
    t1 = time.time()
    second = Signal(type=SignalType.DISCOVER, payload={})
    second_task = task_signal(input={}, neuron="n")
    t2 = time.time()
    for early, late in ((first, second), (first_task, second_task)):
        a, b = _parse(early.ts), _parse(late.ts)
        assert abs(a - t0) < 0.5
        assert t1 - 0.5 < b < t2 + 0.5
        assert 0.7 < b - a < (t2 - t0) + 0.5
