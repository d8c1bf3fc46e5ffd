"""Agents that call agents, on every transport: a three-level tree inside one trace, its
STOP and rollback, child errors, deadlines and the worker role (docs/protocol.md
section 6, "Delegation").

Each Dendrite has its own client of the bus (on dev and NATS its own connection), as it
would in its own process; tests/delegation/test_processes.py runs them apart for real.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    EngramBinding,
    InMemoryEngram,
    NeuronError,
    RetryStrategy,
    RoleError,
    Signal,
    SignalType,
    TaskFailedError,
    TraceStoppedError,
    builders,
    new_trace_id,
)

from .conftest import HANG_GUARD_S, Bus, eventually, record

NS = "delegation"
NOTES = EngramBinding(name="notes", directed_id="notes")


class Team:
    """A planner that fans out to researchers, each asking a fact finder, then a writer.
    Every level imprints a note; ``hold`` makes fact finders wait until released (or
    cancelled), and every cancelled run is recorded."""

    def __init__(self) -> None:
        self.hold = False
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.fact_calls = 0

    async def _note(self, imprint: Any, context: Any, text: str) -> None:
        await imprint(
            "notes",
            op="upsert",
            entry={"text": text},
            merge_key=f"{context.trace_id}:{text}",
            await_ack=True,
            timeout_s=HANG_GUARD_S,
        )

    async def planner(self, input: dict[str, Any], context: Any, *, call: Any, imprint: Any) -> Any:
        try:
            self.started.append("planner")
            await self._note(imprint, context, "plan")
            facts = await asyncio.gather(
                *(call(neuron="researcher", input={"topic": t}) for t in input["topics"])
            )
            return await call(capabilities=["write"], input={"facts": facts})
        except asyncio.CancelledError:
            self.cancelled.append("planner")
            raise

    async def researcher(
        self, input: dict[str, Any], context: Any, *, call: Any, imprint: Any
    ) -> Any:
        try:
            self.started.append(f"researcher:{input['topic']}")
            await self._note(imprint, context, f"research {input['topic']}")
            return await call(neuron="fact", input=input)
        except asyncio.CancelledError:
            self.cancelled.append(f"researcher:{input['topic']}")
            raise

    async def fact(self, input: dict[str, Any], context: Any, *, imprint: Any) -> Any:
        try:
            self.fact_calls += 1
            self.started.append(f"fact:{input['topic']}")
            if input["topic"] == "bad":
                raise NeuronError("nothing known about 'bad'", code="NO_FACTS")
            await self._note(imprint, context, f"fact {input['topic']}")
            if self.hold:
                await self.release.wait()
            return {"topic": input["topic"], "fact": f"{input['topic']} is true"}
        except asyncio.CancelledError:
            self.cancelled.append(f"fact:{input['topic']}")
            raise

    async def writer(self, input: dict[str, Any], context: Any) -> Any:
        return {"text": "; ".join(f["fact"] for f in input["facts"])}


async def start_team(bus: Bus, team: Team) -> tuple[list[Dendrite], Dendrite, InMemoryEngram]:
    notes = InMemoryEngram("notes")

    async def dendrite(name: str, role: str = "worker") -> Dendrite:
        return Dendrite(
            synapse=await bus.connect(),
            namespace=NS,
            dendrite_id=name,
            role=role,  # type: ignore[arg-type]
            heartbeat_s=0,
        )

    host = await dendrite("engram-host")
    host.attach_engram(notes)
    lead = await dendrite("lead")
    lead.attach_axon(Axon("planner", team.planner, engrams=[NOTES]))
    lab = await dendrite("lab")
    lab.attach_axon(Axon("researcher", team.researcher, engrams=[NOTES]))
    desk = await dendrite("desk")
    desk.attach_axon(Axon("fact", team.fact, engrams=[NOTES]))
    desk.attach_axon(Axon("writer", team.writer, capabilities=["write"]))
    api = await dendrite("api", "orchestrator")
    everyone = [host, lead, lab, desk, api]
    for d in everyone:
        await d.start()
    return everyone, api, notes


async def stop_all(dendrites: list[Dendrite]) -> None:
    for d in reversed(dendrites):
        await asyncio.wait_for(d.stop(), HANG_GUARD_S)


async def test_a_three_level_tree_answers_inside_one_trace(bus: Bus) -> None:
    observer = await record(await bus.connect(), NS)
    team = Team()
    dendrites, api, notes = await start_team(bus, team)
    try:
        reply = await api.dispatch_and_wait(
            neuron="planner", input={"topics": ["sun", "sea"]}, timeout_s=HANG_GUARD_S
        )
    finally:
        await stop_all(dendrites)
    assert reply.output == {"text": "sun is true; sea is true"}
    assert len(notes) == 5  # plan, two researches, two facts

    await eventually(
        lambda: sum(s.type is SignalType.TASK for s in observer) == 6, what="every TASK"
    )
    tasks = {s.id: s for s in observer if s.type is SignalType.TASK}
    assert {t.trace_id for t in tasks.values()} == {reply.trace_id}
    root = next(t for t in tasks.values() if t.neuron == "planner")
    assert root.parent_id is None and "depth" not in root.meta

    def children(parent: Signal) -> list[Signal]:
        return sorted(
            (t for t in tasks.values() if t.parent_id == parent.id),
            key=lambda t: str(t.neuron),
        )

    level1 = children(root)
    assert [t.neuron for t in level1] == ["researcher", "researcher", "writer"]
    for child in level1:
        assert child.meta["depth"] == 1 and child.meta["caller"] == "planner"
        assert child.meta["deadline_ms"] <= root.meta["deadline_ms"]
    for researcher in level1[:2]:
        (grandchild,) = children(researcher)
        assert grandchild.neuron == "fact" and grandchild.meta["depth"] == 2
        assert grandchild.meta["caller"] == "researcher"
        assert grandchild.meta["deadline_ms"] <= researcher.meta["deadline_ms"]
        assert grandchild.payload["input"] == researcher.payload["input"]


async def test_a_child_error_raises_in_the_parent_with_the_childs_code(bus: Bus) -> None:
    team = Team()
    caught: list[TaskFailedError] = []

    async def careful(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        try:
            return await call(neuron="fact", input={"topic": "bad"})
        except TaskFailedError as exc:
            caught.append(exc)
            return {"gave_up": exc.code}

    dendrites, api, _ = await start_team(bus, team)
    extra = Dendrite(synapse=await bus.connect(), namespace=NS, role="worker", heartbeat_s=0)
    await extra.attach_axon(Axon("careful", careful))
    try:
        async with extra:
            reply = await api.dispatch_and_wait(neuron="careful", input={}, timeout_s=10)
    finally:
        await stop_all(dendrites)
    assert reply.output == {"gave_up": "NO_FACTS"}
    (error,) = caught
    assert error.code == "NO_FACTS" and error.producer == "fact"
    assert error.message == "nothing known about 'bad'" and not error.recoverable


async def test_stop_at_the_root_cancels_the_whole_tree(bus: Bus) -> None:
    observer = await record(await bus.connect(), NS)
    team = Team()
    team.hold = True
    dendrites, api, notes = await start_team(bus, team)
    try:
        trace = new_trace_id()
        wait = asyncio.ensure_future(
            api.dispatch_and_wait(
                neuron="planner", input={"topics": ["a", "b"]}, trace_id=trace, timeout_s=30
            )
        )
        await eventually(lambda: team.fact_calls == 2, what="both grandchildren running")
        await eventually(lambda: len(notes) == 5, what="every level's note")
        result = await api.stop_trace(trace, rollback=True, collect_acks=True, timeout_s=10)
        with pytest.raises(TraceStoppedError):
            await asyncio.wait_for(wait, HANG_GUARD_S)
        await eventually(lambda: len(team.cancelled) == 5, what="every run cancelled")
        # Rollback undid the writes of all three levels.
        assert len(notes) == 0 and result.compensated == 5
        assert sorted(team.cancelled) == [
            "fact:a", "fact:b", "planner", "researcher:a", "researcher:b"
        ]  # fmt: skip
        # Nothing of the trace is published after its STOP (acks aside): a later round
        # trip through the same Dendrites is seen, and no reply, TASK or write before it.
        team.hold = False
        probe = await api.dispatch_and_wait(neuron="writer", input={"facts": []}, timeout_s=10)
        await eventually(lambda: any(s.id == probe.id for s in observer), what="the probe")
    finally:
        await stop_all(dendrites)
    stop_at = next(i for i, s in enumerate(observer) if s.type is SignalType.STOP)
    late = [
        s
        for s in observer[stop_at:]
        if s.trace_id == trace and s.type not in (SignalType.STOP, SignalType.STOPPED)
    ]
    assert late == []


async def test_a_retry_stops_the_abandoned_attempts_whole_tree(bus: Bus) -> None:
    team = Team()
    team.hold = True
    dendrites, api, _ = await start_team(bus, team)
    holding = team.release

    async def first_attempt_holds(attempt: int, outcome: object) -> None:
        # attempt 1's tree is STOPped before this runs: its runs were cancelled.
        await eventually(lambda: len(team.cancelled) == 3, what="attempt 1's tree cancelled")
        team.hold = False

    try:
        reply = await api.run_with_retry(
            neuron="planner",
            input={"topics": ["x"]},
            retry=RetryStrategy(max_attempts=2, timeout_s=1.0, on_retry=first_attempt_holds),
            timeout_s=HANG_GUARD_S,
        )
    finally:
        holding.set()
        await stop_all(dendrites)
    assert reply.output == {"text": "x is true"} and reply.meta["attempt"] == 2
    assert sorted(team.cancelled) == ["fact:x", "planner", "researcher:x"]


async def test_a_childs_deadline_never_exceeds_its_roots(bus: Bus) -> None:
    observer = await record(await bus.connect(), NS)
    seen: list[int] = []

    async def greedy(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        # asks for far more than the root allows: it gets what is left of the root's wait
        return await call(neuron="leaf", input={}, timeout_s=3600)

    async def leaf(input: dict[str, Any], context: Any) -> Any:
        seen.append(context.task.meta["deadline_ms"])
        return {}

    worker = Dendrite(synapse=await bus.connect(), namespace=NS, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon("greedy", greedy))
    worker.attach_axon(Axon("leaf", leaf))
    api = Dendrite(synapse=await bus.connect(), namespace=NS, heartbeat_s=0)
    async with worker, api:
        reply = await api.dispatch_and_wait(neuron="greedy", input={}, timeout_s=5)
    await eventually(
        lambda: sum(s.type is SignalType.TASK for s in observer) == 2, what="both TASKs"
    )
    root, child = (s for s in observer if s.type is SignalType.TASK)
    assert root.meta["deadline_ms"] == 5000
    assert child.trace_id == root.trace_id == reply.trace_id and child.parent_id == root.id
    assert 0 < child.meta["deadline_ms"] <= 5000 and seen == [child.meta["deadline_ms"]]


async def test_workers_delegate_but_do_not_start_traces(bus: Bus) -> None:
    refused: list[str] = []

    async def sneaky(input: dict[str, Any], context: Any, *, call: Any) -> Any:
        me = holder[0]
        # A TASK on another trace, or with a parent that is not running here: refused.
        for task in (
            builders.task_signal(input={}, neuron="leaf"),
            builders.task_signal(
                input={}, neuron="leaf", trace_id=context.trace_id, parent_id="evt_x"
            ),
        ):
            try:
                await me.publish(task)
            except RoleError as exc:
                refused.append(str(exc))
        return await call(neuron="leaf", input={})

    async def leaf(input: dict[str, Any], context: Any) -> Any:
        return {"leaf": True}

    worker = Dendrite(synapse=await bus.connect(), namespace=NS, role="worker", heartbeat_s=0)
    holder = [worker]
    worker.attach_axon(Axon("sneaky", sneaky))
    worker.attach_axon(Axon("leaf", leaf))
    api = Dendrite(synapse=await bus.connect(), namespace=NS, heartbeat_s=0)
    async with worker, api:
        with pytest.raises(RoleError):
            await worker.dispatch_task(neuron="leaf", input={})
        reply = await api.dispatch_and_wait(neuron="sneaky", input={}, timeout_s=10)
    assert reply.output == {"leaf": True}
    assert len(refused) == 2 and all("only orchestrators send TASK" in r for r in refused)
