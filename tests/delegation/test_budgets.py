"""Trace budgets stop agents that call each other without end (docs/protocol.md
section 6): past a bound the trace is STOPped everywhere with a reason naming the bound,
and the root's caller gets TraceBudgetExceededError."""

from __future__ import annotations

from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    SignalType,
    TraceBudget,
    TraceBudgetExceededError,
)

from .conftest import HANG_GUARD_S, Bus, eventually, record

NS = "budgets"


async def run_loop(
    bus: Bus, neuron_fn: Any, budget: TraceBudget | None, *, dendrite_budget: bool = False
) -> tuple[TraceBudgetExceededError, list[Any]]:
    """Host ``neuron_fn`` as "loop" on two workers (so the recursion crosses Dendrites),
    dispatch it once and return the error the root's caller got, and what was heard."""
    observer = await record(await bus.connect(), NS)
    workers = []
    for name in ("left", "right"):
        worker = Dendrite(
            synapse=await bus.connect(),
            namespace=NS,
            dendrite_id=name,
            role="worker",
            heartbeat_s=0,
            budget=budget if dendrite_budget else None,
        )
        worker.attach_axon(Axon(f"loop-{name}", neuron_fn))
        workers.append(worker)
    api = Dendrite(synapse=await bus.connect(), namespace=NS, heartbeat_s=0)
    try:
        for d in (*workers, api):
            await d.start()
        with pytest.raises(TraceBudgetExceededError) as info:
            await api.dispatch_and_wait(
                neuron="loop-left",
                input={"n": 0},
                timeout_s=HANG_GUARD_S,
                budget=None if dendrite_budget else budget,
            )
        await eventually(
            lambda: any(s.type is SignalType.STOP for s in observer), what="the budget's STOP"
        )
    finally:
        for d in (api, *workers):
            await d.stop()
    return info.value, observer


async def ping_pong(input: dict[str, Any], context: Any, *, call: Any) -> Any:
    """Calls the other worker's loop, forever deeper."""
    other = "loop-right" if context.neuron_id == "loop-left" else "loop-left"
    return await call(neuron=other, input={"n": input["n"] + 1})


async def test_a_recursive_agent_is_stopped_at_max_depth(bus: Bus) -> None:
    error, heard = await run_loop(bus, ping_pong, TraceBudget(max_depth=3))
    assert (error.bound, error.limit, error.value) == ("max_depth", 3, 4)
    assert "max_depth is 3" in str(error)
    tasks = [s for s in heard if s.type is SignalType.TASK]
    assert sorted(t.meta.get("depth", 0) for t in tasks) == [0, 1, 2, 3]  # depth 4 never sent
    (stop,) = [s for s in heard if s.type is SignalType.STOP]
    assert "max_depth" in stop.payload["reason"]
    assert stop.meta["budget_exceeded"] == {"bound": "max_depth", "limit": 3, "value": 4}


async def test_the_default_budget_stops_a_runaway_loop(bus: Bus) -> None:
    error, _ = await run_loop(bus, ping_pong, None)
    assert (error.bound, error.limit) == ("max_depth", TraceBudget().max_depth)


async def test_a_fan_out_is_stopped_at_max_tasks(bus: Bus) -> None:
    async def fan_out(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        # each run asks two more, one after the other: the tree grows without bound
        other = "loop-right" if context.neuron_id == "loop-left" else "loop-left"
        for _ in range(2):
            await call(neuron=other, input={"n": input["n"] + 1})
        return {}

    error, heard = await run_loop(bus, fan_out, TraceBudget(max_depth=50, max_tasks=6))
    assert (error.bound, error.limit) == ("max_tasks", 6) and error.value == 7
    tasks = [s for s in heard if s.type is SignalType.TASK]
    assert len(tasks) == 6


async def test_reported_tokens_are_bounded_by_max_tokens(bus: Bus) -> None:
    async def spender(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        context.report_tokens(100)
        if input["n"] >= 20:
            return {}
        other = "loop-right" if context.neuron_id == "loop-left" else "loop-left"
        for _ in range(3):  # replies come back with 100 tokens each, and more below
            await call(neuron=other, input={"n": 20})
        return {}

    error, heard = await run_loop(bus, spender, TraceBudget(max_tokens=250))
    assert error.bound == "max_tokens" and error.limit == 250 and error.value > 250
    replies = [s for s in heard if s.type is SignalType.AGENT_OUTPUT]
    assert all(r.meta["tokens"] == 100 for r in replies)


async def test_a_dendrites_budget_applies_to_traces_its_neurons_delegate_in(bus: Bus) -> None:
    error, _ = await run_loop(bus, ping_pong, TraceBudget(max_depth=2), dendrite_budget=True)
    assert (error.bound, error.limit, error.value) == ("max_depth", 2, 3)


def test_budget_values_are_checked() -> None:
    with pytest.raises(ValueError, match="max_tasks"):
        TraceBudget(max_tasks=0)
    with pytest.raises(ValueError, match="max_depth"):
        TraceBudget(max_depth=-1)
    assert TraceBudget(max_tokens=5).to_meta() == {
        "max_depth": 8,
        "max_tasks": 256,
        "max_tokens": 5,
    }
    assert TraceBudget.from_meta({"max_depth": "x", "max_tasks": 3}, TraceBudget()) == TraceBudget(
        max_tasks=3
    )
    assert TraceBudget.from_meta({"max_tasks": 0}, TraceBudget()) == TraceBudget()


async def test_tasks_between_other_hosts_count_toward_max_tasks(bus: Bus) -> None:
    """``top`` (one host) calls ``mid`` (another), which fans out to ``leaf`` (a third):
    the leaves' TASKs pass between two other hosts, yet ``top``'s host counts them, so
    its second call is refused at ``max_tasks`` (the 7th TASK is never sent)."""

    async def top(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        for _ in range(2):
            await call(neuron="mid", input={})
        return {}

    async def mid(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        for _ in range(4):
            await call(neuron="leaf", input={})
        return {}

    async def leaf(input: dict[str, Any], context: Any) -> Any:
        return {}

    observer = await record(await bus.connect(), NS)
    hosts = []
    for name, fn in (("top", top), ("mid", mid), ("leaf", leaf)):
        host = Dendrite(
            synapse=await bus.connect(),
            namespace=NS,
            dendrite_id=f"host-{name}",
            role="worker",
            heartbeat_s=0,
        )
        host.attach_axon(Axon(name, fn))
        hosts.append(host)
    api = Dendrite(synapse=await bus.connect(), namespace=NS, heartbeat_s=0)
    try:
        for d in (*hosts, api):
            await d.start()
        with pytest.raises(TraceBudgetExceededError) as info:
            await api.dispatch_and_wait(
                neuron="top",
                input={},
                timeout_s=HANG_GUARD_S,
                budget=TraceBudget(max_depth=8, max_tasks=6),
            )
        await eventually(
            lambda: any(s.type is SignalType.STOP for s in observer), what="the budget's STOP"
        )
    finally:
        for d in (api, *hosts):
            await d.stop()
    error = info.value
    assert (error.bound, error.limit, error.value) == ("max_tasks", 6, 7)
    tasks = [s for s in observer if s.type is SignalType.TASK]
    assert [t.neuron for t in tasks] == ["top", "mid", "leaf", "leaf", "leaf", "leaf"]
