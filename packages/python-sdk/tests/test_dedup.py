"""The dedup window: SeenWindow on its own, and the Dendrite dropping redelivered Signals."""

from __future__ import annotations

from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, MemorySynapse, NeuronContext, Signal, SignalType
from cosmonapse._dedup import DEFAULT_DEDUP_WINDOW, SeenWindow
from cosmonapse.builders import task_signal
from cosmonapse.subjects import routed_task_subject, signal_subject

from .conftest import eventually

NS = "dedup"


class Clock:
    """A clock the test moves by hand, so ages are exact and nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- SeenWindow ----------------------------------------------------------------------------


def test_a_key_is_new_once_inside_the_window() -> None:
    window = SeenWindow(4)
    assert window.first_sight(("s", "evt_1"))
    assert not window.first_sight(("s", "evt_1"))
    assert not window.first_sight(("s", "evt_1"))
    # The same id on another subject is another key.
    assert window.first_sight(("t", "evt_1"))
    assert ("s", "evt_1") in window and len(window) == 2


def test_capacity_bounds_memory_and_an_evicted_key_is_accepted_again() -> None:
    window = SeenWindow(10)
    for i in range(25):
        assert window.first_sight(i)
        assert len(window) <= 10
    assert len(window) == 10 and len(window._order) == 10
    assert all(not window.first_sight(i) for i in range(15, 25))  # the last 10 are held
    assert window.first_sight(0)  # pushed out long ago: accepted again
    assert not window.first_sight(0)
    assert len(window) == 10


def test_memory_stays_at_capacity_over_a_long_run() -> None:
    window = SeenWindow(1000)
    for i in range(50_000):
        window.first_sight(("cosmonapse.ns.TASK", f"evt_{i}"))
    assert len(window) == 1000 and len(window._seen) == len(window._order) == 1000


def test_a_key_older_than_max_age_is_accepted_again() -> None:
    clock = Clock()
    window = SeenWindow(100, max_age_s=10.0, clock=clock)
    assert window.first_sight("a")
    clock.now = 5.0
    assert window.first_sight("b")
    assert not window.first_sight("a")  # 5 s old: still inside
    clock.now = 10.5
    assert "a" not in window and "b" in window
    assert window.first_sight("a")  # 10.5 s old: expired, new again
    assert len(window) == 2


def test_a_redelivery_does_not_refresh_its_key() -> None:
    clock = Clock()
    window = SeenWindow(100, max_age_s=10.0, clock=clock)
    window.first_sight("a")
    for t in range(1, 10):
        clock.now = float(t)
        assert not window.first_sight("a")
    clock.now = 10.0
    assert window.first_sight("a")  # its age counts from the first sight


def test_window_validation_and_defaults() -> None:
    assert SeenWindow().capacity == DEFAULT_DEDUP_WINDOW == 10_000
    with pytest.raises(ValueError, match="capacity"):
        SeenWindow(0)
    with pytest.raises(ValueError, match="max_age_s"):
        SeenWindow(10, max_age_s=0)
    window = SeenWindow(3)
    window.first_sight(1)
    window.clear()
    assert len(window) == 0 and window.first_sight(1)
    assert "1/3" in repr(window)


# -- the Dendrite --------------------------------------------------------------------------


def counting_axon(runs: list[str], capabilities: list[str] | None = None) -> Axon:
    async def count(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        runs.append(context.trace_id)
        return {"n": len(runs)}

    return Axon("counter", count, capabilities or [])


async def replay(synapse: MemorySynapse, subject: str, signal: Signal, times: int) -> None:
    frame = signal.encode()
    for _ in range(times):
        await synapse.publish(subject, frame)


async def test_a_replayed_task_runs_once_and_is_counted(memory: MemorySynapse) -> None:
    runs: list[str] = []
    worker = Dendrite(synapse=memory, namespace=NS, role="worker", heartbeat_s=0)
    worker.attach_axon(counting_axon(runs))
    replies: list[Signal] = []

    async def heard(subject: str, data: bytes) -> None:
        replies.append(Signal.decode(data))

    await memory.subscribe(signal_subject(NS, "AGENT_OUTPUT"), heard)
    async with worker:
        task = task_signal(input={}, neuron="counter")
        await replay(memory, signal_subject(NS, "TASK"), task, 3)
        await eventually(lambda: worker.stats["duplicates"] == 2, what="two copies dropped")
        await eventually(lambda: len(replies) == 1)
        assert runs == [task.trace_id]
        assert worker.stats["received"] == 1


async def test_dedup_window_zero_lets_every_copy_through(memory: MemorySynapse) -> None:
    runs: list[str] = []
    worker = Dendrite(synapse=memory, namespace=NS, role="worker", heartbeat_s=0, dedup_window=0)
    worker.attach_axon(counting_axon(runs))
    async with worker:
        task = task_signal(input={}, neuron="counter")
        await replay(memory, signal_subject(NS, "TASK"), task, 3)
        await eventually(lambda: len(runs) == 3, what="three runs")
        assert worker.stats["duplicates"] == 0


async def test_the_same_id_on_two_subjects_is_handled_on_both(memory: MemorySynapse) -> None:
    """A routed TASK runs on the routed subject; the same Signal on the broadcast subject
    still reaches TASK handlers: the window keys on (subject, id)."""
    runs: list[str] = []
    heard: list[Signal] = []
    worker = Dendrite(synapse=memory, namespace=NS, role="worker", heartbeat_s=0)
    worker.attach_axon(counting_axon(runs, ["count"]))

    async def on_task(signal: Signal) -> None:
        heard.append(signal)

    async with worker:
        await worker.subscribe(SignalType.TASK, on_task)
        task = task_signal(input={}, capabilities=["count"])
        await replay(memory, routed_task_subject(NS), task, 2)
        await replay(memory, signal_subject(NS, "TASK"), task, 2)
        await eventually(lambda: worker.stats["duplicates"] == 2, what="one copy of each dropped")
        await eventually(lambda: len(runs) == 1 and len(heard) == 1)
        assert heard[0].id == task.id


async def test_a_negative_dedup_window_is_refused() -> None:
    with pytest.raises(ValueError, match="dedup_window"):
        Dendrite(synapse=MemorySynapse(), namespace=NS, dedup_window=-1)


async def test_the_window_is_bounded_by_dedup_window(memory: MemorySynapse) -> None:
    runs: list[str] = []
    worker = Dendrite(synapse=memory, namespace=NS, role="worker", heartbeat_s=0, dedup_window=2)
    worker.attach_axon(counting_axon(runs))
    async with worker:
        first = task_signal(input={}, neuron="counter")
        await replay(memory, signal_subject(NS, "TASK"), first, 1)
        for _ in range(2):  # two newer TASKs push the first out of a window of 2
            newer = task_signal(input={}, neuron="counter")
            await replay(memory, signal_subject(NS, "TASK"), newer, 1)
        await replay(memory, signal_subject(NS, "TASK"), first, 1)
        await eventually(lambda: len(runs) == 4, what="the old TASK accepted again")
        assert runs.count(first.trace_id) == 2
        assert worker.stats["duplicates"] == 0
