"""Signal timestamps follow the clock, across seconds too (the formatted second is cached)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

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


def test_each_timestamp_is_its_own_instant_across_microseconds_milliseconds_and_seconds(
    monkeypatch,
) -> None:
    # The formatted second and millisecond are cached: a timestamp must still be exactly
    # the instant it was made, whichever part changed since the one before.
    from cosmonapse._clock import _Clock

    base = 1_764_780_000 * 10**9  # a whole second
    instants = [
        base,
        base + 1_000,  # next microsecond, same millisecond
        base + 999_999,  # same millisecond, last microsecond
        base + 1_000_000,  # next millisecond
        base + 1_234_567,
        base + 999_999_999,  # last microsecond of the second
        base + 10**9,  # next second
        base + 10**9 + 5_000,
        base + 86_400 * 10**9 + 42_000,  # a day later, same millisecond digits as before
        base + 3,  # back in time (a clock step): still right
    ]
    clock = _Clock()
    for ns in instants:
        monkeypatch.setattr(time, "time_ns", lambda ns=ns: ns)
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
        expected = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert clock.now() == expected, ns
