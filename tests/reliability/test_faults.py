"""Dendrites on a bad network: FaultySynapse drops, duplicates, delays and reorders frames.

The invariants under test (docs/protocol.md section 5, issue "fault injection"):

* every dispatched TASK ends for its caller in exactly one of a reply, an ERROR or a
  ``DispatchTimeoutError``, and no call outlives its deadline;
* a Signal delivered twice on the same subject is handled once (the Dendrite's dedup
  window): a duplicated TASK runs its Neuron once, a duplicated reply resolves once;
* a STOP with rollback, duplicated and reordered, compensates each journal entry exactly
  once.

Every fault pattern comes from a fixed seed. Counts that depend on scheduling (how many
calls timed out) are not asserted, only the invariants; nothing asserts on time, and every
wait has a hang guard. FaultySynapse's own contract (reproducible, lossless delay and
reorder, nothing left behind by close) is tested first.
"""

from __future__ import annotations

import asyncio
import collections
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    DispatchTimeoutError,
    EngramBinding,
    InMemoryEngram,
    MemorySynapse,
    NeuronContext,
    NeuronError,
    Signal,
    SignalType,
    StopResult,
    Synapse,
    SynapseClosedError,
    new_trace_id,
)
from cosmonapse.synapses import FaultySynapse
from cosmonapse_cli import DevSynapseServer

HANG_GUARD_S = 15.0
"""Deadline for anything a test waits on: a hang guard, never a timing assertion."""

NS = "faults"
ROOT = Path(__file__).resolve().parents[2]


async def eventually(
    check: Callable[[], bool], *, what: str, limit_s: float = HANG_GUARD_S
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not become true within {limit_s} s")
        await asyncio.sleep(0.005)


# -- FaultySynapse on its own ------------------------------------------------------------


async def run_pattern(seed: int, **faults: Any) -> tuple[list[int], dict[str, int]]:
    """Publish 300 numbered frames through a fresh wrapper; return what one subscriber got.

    Faults apply to ``t.data`` only; a ``t.end`` frame on the same subscription, published
    last and never faulted or delayed behind, fences the run.
    """
    faulty = FaultySynapse(MemorySynapse(), seed=seed, subjects="t.data", **faults)
    got: list[int] = []
    done = asyncio.Event()

    async def handler(subject: str, data: bytes) -> None:
        if subject == "t.end":
            done.set()
        else:
            got.append(int(data))

    async with faulty:
        await faulty.subscribe("t.*", handler)
        for i in range(300):
            await faulty.publish("t.data", b"%d" % i)
        # Held frames would trail the fence: wait until every frame reached the wrapper
        # and none is held any more.
        await eventually(
            lambda: faulty.stats["delivered"] == 300 and faulty.stats["faults_held"] == 0,
            what="every frame through",
        )
        await faulty.publish("t.end", b"")
        await asyncio.wait_for(done.wait(), HANG_GUARD_S)
        return got, faulty.stats


async def test_the_same_seed_gives_the_same_faults() -> None:
    first, stats = await run_pattern(7, drop=0.3, duplicate=0.2)
    again, _ = await run_pattern(7, drop=0.3, duplicate=0.2)
    other, _ = await run_pattern(8, drop=0.3, duplicate=0.2)
    assert first == again
    assert first != other
    # What arrived is exactly what the counters say was done to it.
    assert 0 < stats["faults_dropped"] < 300 and 0 < stats["faults_duplicated"] < 300
    assert len(first) == 300 - stats["faults_dropped"] + stats["faults_duplicated"]
    counts = collections.Counter(first)
    assert set(counts.values()) == {1, 2}
    assert sum(n == 2 for n in counts.values()) == stats["faults_duplicated"]
    assert first == sorted(first)  # neither delay nor reorder was asked for


async def test_delay_and_reorder_shuffle_but_lose_nothing() -> None:
    got, stats = await run_pattern(3, delay=0.3, reorder=0.3, max_delay_s=0.02)
    assert sorted(got) == list(range(300))
    assert got != sorted(got)
    assert stats["faults_delayed"] > 0 and stats["faults_reordered"] > 0
    assert stats["faults_dropped"] == stats["faults_duplicated"] == 0
    again, _ = await run_pattern(3, delay=0.3, reorder=0.3, max_delay_s=0.02)
    assert sorted(again) == list(range(300))


async def test_close_cancels_delayed_frames_and_leaves_no_task() -> None:
    faulty = FaultySynapse(MemorySynapse(), seed=1, delay=1.0, max_delay_s=3600.0)
    got: list[bytes] = []

    async def handler(subject: str, data: bytes) -> None:
        got.append(data)

    sub = await faulty.subscribe("t.*", handler)
    for i in range(50):
        await faulty.publish("t.data", b"%d" % i)
    await eventually(lambda: faulty.stats["faults_held"] == 50, what="50 frames held")
    timers = list(sub._timers)  # type: ignore[attr-defined]
    assert len(timers) == 50
    await faulty.close()
    assert all(t.cancelled() for t in timers)
    assert faulty.stats["faults_held"] == 0 and got == []
    assert faulty.closed and faulty.inner.closed
    leftover = [
        t
        for t in asyncio.all_tasks()
        if t.get_name().startswith("cosmonapse-inbox") and not t.done()
    ]
    assert leftover == []
    with pytest.raises(SynapseClosedError):
        await faulty.publish("t.data", b"x")
    await faulty.close()  # idempotent


async def test_unsubscribe_and_a_shared_bus() -> None:
    """With close_inner=False the wrapper leaves the bus open for the other clients."""
    bus = MemorySynapse()
    faulty = FaultySynapse(bus, seed=5, reorder=1.0, max_delay_s=3600.0, close_inner=False)
    got: list[bytes] = []

    async def handler(subject: str, data: bytes) -> None:
        got.append(data)

    sub = await faulty.subscribe("t.>", handler)
    await bus.publish("t.a", b"1")  # held back, waiting for a successor that never comes
    await eventually(lambda: faulty.stats["faults_held"] == 1, what="one frame held")
    await sub.unsubscribe()
    assert faulty.stats["faults_held"] == 0 and bus.stats["subscriptions"] == 0
    await faulty.close()
    assert not bus.closed and got == []
    await bus.close()


def test_faulty_synapse_validates_its_options() -> None:
    bus = MemorySynapse()
    for bad in ({"drop": -0.1}, {"duplicate": 1.5}, {"max_delay_s": 0}, {"max_held": 0}):
        with pytest.raises(ValueError):
            FaultySynapse(bus, seed=0, **bad)
    faulty = FaultySynapse(bus, seed=0)
    assert faulty.url == bus.url and "seed=0" in repr(faulty)


# -- Dendrites over a faulty bus --------------------------------------------------------


class Bus:
    """Synapse clients of one bus (memory, or a dev synapse on a free loopback port), each
    wrapped in its own FaultySynapse with its own seed."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.memory: MemorySynapse | None = None
        self.server: DevSynapseServer | None = None
        self.clients: list[Synapse] = []

    async def open(self) -> None:
        if self.kind == "memory":
            self.memory = MemorySynapse()
        else:
            self.server = DevSynapseServer("127.0.0.1", port=0)
            await self.server.start()

    async def connect(self, **faults: Any) -> FaultySynapse:
        if self.memory is not None:
            inner: Synapse = self.memory
            faulty = FaultySynapse(inner, close_inner=False, **faults)
        else:
            from cosmonapse import connect_synapse

            assert self.server is not None
            inner = await connect_synapse(str(self.server.url))
            faulty = FaultySynapse(inner, **faults)
        self.clients.append(faulty)
        return faulty

    async def aclose(self) -> None:
        for client in self.clients:
            await client.close()
        if self.memory is not None:
            await self.memory.close()
        if self.server is not None:
            await self.server.close()


@pytest.fixture
async def open_bus() -> AsyncIterator[Callable[[str], Awaitable[Bus]]]:
    buses: list[Bus] = []

    async def make(kind: str) -> Bus:
        bus = Bus(kind)
        await bus.open()
        buses.append(bus)
        return bus

    try:
        yield make
    finally:
        for bus in buses:
            await asyncio.wait_for(bus.aclose(), HANG_GUARD_S)


async def start_pair(
    bus: Bus, axon: Axon, *, worker_faults: dict[str, Any], api_faults: dict[str, Any]
) -> tuple[Dendrite, Dendrite]:
    worker = Dendrite(
        synapse=await bus.connect(**worker_faults),
        namespace=NS,
        dendrite_id="worker",
        role="worker",
        heartbeat_s=0,
    )
    worker.attach_axon(axon)
    api = Dendrite(
        synapse=await bus.connect(**api_faults), namespace=NS, dendrite_id="api", heartbeat_s=0
    )
    await worker.start()
    await api.start()
    return worker, api


def numbered_axon(runs: collections.Counter[int]) -> Axon:
    """Echoes ``n``; every fifth ``n`` fails with a NeuronError (an ERROR reply)."""

    async def numbered(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        n = input["n"]
        runs[n] += 1
        await asyncio.sleep(0)
        if n % 5 == 0:
            raise NeuronError(f"{n} is a multiple of five", code="FIVES")
        return {"n": n}

    return Axon("numbered", numbered)


CALL_TIMEOUT_S = 2.0


@pytest.mark.parametrize("kind", ["memory", "dev"])
async def test_every_dispatch_ends_in_exactly_one_outcome(
    kind: str, open_bus: Callable[[str], Awaitable[Bus]]
) -> None:
    bus = await open_bus(kind)
    runs: collections.Counter[int] = collections.Counter()
    noise = {"drop": 0.05, "duplicate": 0.2, "delay": 0.2, "reorder": 0.2, "max_delay_s": 0.02}
    worker, api = await start_pair(
        bus,
        numbered_axon(runs),
        worker_faults={"seed": 11, **noise},
        api_faults={"seed": 12, **noise},
    )
    n_calls = 300

    async def call(n: int) -> tuple[str, int]:
        try:
            reply = await asyncio.wait_for(
                api.dispatch_and_wait(neuron="numbered", input={"n": n}, timeout_s=CALL_TIMEOUT_S),
                CALL_TIMEOUT_S + HANG_GUARD_S,
            )
        except DispatchTimeoutError:
            return "timeout", n
        except TimeoutError:  # the hang guard, not the call's own deadline
            return "hang", n
        if reply.type is SignalType.AGENT_OUTPUT:
            assert reply.payload["output"] == {"n": n}  # the answer to this call, no other
            return "reply", n
        assert reply.type is SignalType.ERROR, reply
        assert reply.payload["code"] == "FIVES" and n % 5 == 0
        return "error", n

    try:
        outcomes = await asyncio.gather(*(call(n) for n in range(n_calls)))
    finally:
        await api.stop()
        await worker.stop()

    by_kind = collections.Counter(kind for kind, _ in outcomes)
    assert set(by_kind) <= {"reply", "error", "timeout"}, by_kind
    assert sum(by_kind.values()) == n_calls
    assert sorted(n for _, n in outcomes) == list(range(n_calls))  # one outcome per call
    # 5% loss on each hop over 300 calls: some of each outcome (fixed seeds).
    assert by_kind["reply"] > 0 and by_kind["error"] > 0 and by_kind["timeout"] > 0, by_kind
    # Duplicated TASKs never ran twice; every reply or ERROR came from a run.
    assert max(runs.values()) == 1
    answered = {n for kind, n in outcomes if kind in ("reply", "error")}
    assert answered <= set(runs)
    assert worker.stats["duplicates"] > 0 and api.stats["duplicates"] > 0
    faults = worker.synapse.stats
    assert faults["faults_dropped"] > 0 and faults["faults_duplicated"] > 0


@pytest.mark.parametrize("kind", ["memory", "dev"])
async def test_every_frame_twice_runs_each_task_once(
    kind: str, open_bus: Callable[[str], Awaitable[Bus]]
) -> None:
    bus = await open_bus(kind)
    runs: collections.Counter[int] = collections.Counter()
    twice = {"duplicate": 1.0, "reorder": 0.3, "max_delay_s": 0.02}
    worker, api = await start_pair(
        bus,
        numbered_axon(runs),
        worker_faults={"seed": 21, **twice},
        api_faults={"seed": 22, **twice},
    )
    heard: collections.Counter[str] = collections.Counter()

    @api.on_agent_output
    async def _output(signal: Signal) -> None:
        heard[signal.trace_id] += 1

    @api.on_error_signal
    async def _error(signal: Signal) -> None:
        heard[signal.trace_id] += 1

    n_calls = 200
    try:
        replies = await asyncio.wait_for(
            asyncio.gather(
                *(
                    api.dispatch_and_wait(neuron="numbered", input={"n": n}, timeout_s=HANG_GUARD_S)
                    for n in range(n_calls)
                )
            ),
            HANG_GUARD_S + 5,
        )
        await eventually(lambda: sum(heard.values()) >= n_calls, what="every reply handled")
        # Fence: the api has seen both copies of every reply (the second one dropped).
        await eventually(lambda: api.stats["duplicates"] >= n_calls, what="reply copies dropped")
    finally:
        await api.stop()
        await worker.stop()

    assert [r.payload.get("output", {}).get("n", i) for i, r in enumerate(replies)] == list(
        range(n_calls)
    )
    assert sum(r.type is SignalType.ERROR for r in replies) == n_calls // 5
    assert runs == collections.Counter(range(n_calls))  # each Neuron ran exactly once
    assert len(heard) == n_calls and set(heard.values()) == {1}  # each reply handled once
    assert worker.stats["duplicates"] >= n_calls  # every TASK came twice
    assert worker.synapse.stats["faults_duplicated"] >= n_calls


# -- saga compensation under duplicated, reordered STOPs ----------------------------------


class CountingEngram(InMemoryEngram):
    """An InMemoryEngram that tallies, per trace, the writes it applied and the inverse
    ops its rollbacks ran."""

    def __init__(self, engram_id: str) -> None:
        super().__init__(engram_id, "semantic")
        self.applied: collections.Counter[str] = collections.Counter()
        self.compensated: collections.Counter[str] = collections.Counter()
        self.rollbacks: collections.Counter[str] = collections.Counter()

    def imprint(self, **kwargs: Any) -> Any:
        before = self.version
        result = super().imprint(**kwargs)
        trace_id = kwargs.get("trace_id")
        if trace_id is not None and self.version != before:
            self.applied[trace_id] += 1
        return result

    def rollback(self, trace_id: str) -> int:
        done = super().rollback(trace_id)
        self.rollbacks[trace_id] += 1
        self.compensated[trace_id] += done
        return done


async def ingest(input: dict[str, Any], context: NeuronContext, *, imprint: Any) -> dict[str, Any]:
    """Writes ``chunks`` entries, then crashes when ``crash`` is set."""
    for i in range(input["chunks"]):
        await imprint(
            "store",
            op="upsert",
            entry={"doc": input["doc"], "i": i},
            merge_key=f"{input['doc']}:{i}",
            await_ack=True,
            timeout_s=HANG_GUARD_S,
        )
    if input.get("crash"):
        raise RuntimeError(f"ingest of {input['doc']} crashed")
    return {"written": input["chunks"]}


async def test_rollback_compensates_each_write_once_under_duplicated_reordered_stops(
    open_bus: Callable[[str], Awaitable[Bus]],
) -> None:
    bus = await open_bus("memory")
    noise = {"duplicate": 1.0, "reorder": 0.5, "delay": 0.3, "max_delay_s": 0.02}
    engram = CountingEngram("store")
    host = Dendrite(
        synapse=await bus.connect(seed=31, **noise),
        namespace=NS,
        dendrite_id="engram-host",
        role="worker",
        heartbeat_s=0,
    )
    host.attach_engram(engram)
    stops_seen: collections.Counter[str] = collections.Counter()

    @host.on_signal(SignalType.STOP)
    async def _stop_seen(stop: Signal) -> None:  # runs after the host handled the STOP
        stops_seen[stop.id] += 1

    worker = Dendrite(
        synapse=await bus.connect(seed=32, **noise),
        namespace=NS,
        dendrite_id="worker",
        role="worker",
        heartbeat_s=0,
    )
    worker.attach_axon(
        Axon("ingest", ingest, engrams=[EngramBinding("store", directed_id="store")])
    )
    api = Dendrite(
        synapse=await bus.connect(seed=33, **noise), namespace=NS, dendrite_id="api", heartbeat_s=0
    )
    for d in (host, worker, api):
        await d.start()
    try:
        # 1. Failed workflows: every write acked and journaled, then an ERROR.
        failed = await asyncio.wait_for(
            asyncio.gather(
                *(
                    api.dispatch_and_wait(
                        neuron="ingest",
                        input={"doc": f"failed-{k}", "chunks": 1 + k % 4, "crash": True},
                        timeout_s=HANG_GUARD_S,
                    )
                    for k in range(12)
                )
            ),
            HANG_GUARD_S + 5,
        )
        assert all(r.type is SignalType.ERROR for r in failed)
        written = sum(1 + k % 4 for k in range(12))
        assert len(engram) == written
        # 2. Workflows still writing when their STOP goes out.
        running = [new_trace_id() for _ in range(8)]
        for k, trace_id in enumerate(running):
            await api.dispatch_task(
                neuron="ingest",
                input={"doc": f"running-{k}", "chunks": 6},
                trace_id=trace_id,
            )
        await eventually(lambda: all(engram.applied[t] >= 1 for t in running), what="writes")

        # Roll every trace back, each twice (two STOPs, each delivered twice, reordered).
        async def rollback_failed(reply: Signal) -> StopResult:
            return await api.stop_trace(
                reply.trace_id, rollback=True, collect_acks=True, timeout_s=HANG_GUARD_S
            )

        acks = await asyncio.wait_for(
            asyncio.gather(*(rollback_failed(r) for r in failed)), HANG_GUARD_S + 5
        )

        async def stop(trace_id: str) -> Signal:
            return (await api.stop_trace(trace_id, rollback=True)).stop

        stops = [await stop(t) for t in running]
        stops += [await stop(r.trace_id) for r in failed]
        stops += [await stop(t) for t in running]
        await eventually(
            lambda: len(stops_seen) == len(stops) + len(failed), what="host handled every STOP"
        )
        await eventually(lambda: worker.stats["in_flight"] == 0, what="ingests cancelled")
    finally:
        for d in (api, worker, host):
            await asyncio.wait_for(d.stop(), HANG_GUARD_S)

    # Each STOP was handled once on the host although it arrived twice.
    assert set(stops_seen.values()) == {1}
    assert host.stats["duplicates"] > 0
    # Every write ever applied was undone, each exactly once.
    assert len(engram) == 0
    traces = [r.trace_id for r in failed] + running
    assert set(engram.applied) == set(traces)
    for trace_id in traces:
        assert engram.compensated[trace_id] == engram.applied[trace_id], trace_id
        assert engram.journal_size(trace_id) == 0
    # The acks the api collected are one per stakeholder (the api itself may be among
    # them): no duplicated STOPPED counted twice.
    for reply, trace_acks in zip(failed, acks, strict=True):
        nodes = [a.payload["node"] for a in trace_acks]
        assert len(nodes) == len(set(nodes)) and {"engram-host", "worker"} <= set(nodes), nodes
        compensated = sum(a.payload["compensated"] for a in trace_acks)
        assert compensated == engram.applied[reply.trace_id]


# -- the docs example ------------------------------------------------------------------


def test_the_docs_example_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "testing-faults.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/testing-faults.md has no python example"
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines and re.fullmatch(r"\d+ replies, \d+ timeouts, 0 ran twice", lines[-1]), lines
    replies, timeouts = map(int, re.findall(r"\d+", lines[-1])[:2])
    assert replies + timeouts == 100 and replies > 0
