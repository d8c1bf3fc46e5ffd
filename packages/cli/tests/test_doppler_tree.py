"""``cosmo doppler`` draws a delegating trace as a tree and says where a STOP cut it: a
real process on a real dev synapse, while real Dendrites delegate (a planner fans out to
two researchers, each asks fact finders; one fact finder blocks until the STOP).

What the lines must show is computed from an independent recording of the bus (each
TASK's ``meta.depth``, the TASK each reply answers), not written into the test."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    RouteCache,
    Signal,
    SignalType,
    TraceStoppedError,
    builders,
    connect_synapse,
    new_trace_id,
)
from cosmonapse.subjects import namespace_wildcard, signal_subject
from cosmonapse_cli.server import DevSynapseServer
from cosmonapse_cli.tree import Cut, TraceTree, cut_summary
from rich.cells import cell_len

COSMO = str(Path(sys.executable).with_name("cosmo"))
NS = "team"
DEADLINE_S = 30.0  # hang guard only
NAMES = {"api", "planner", "researcher", "fact"}


class Recorder:
    def __init__(self) -> None:
        self.signals: list[Signal] = []
        self.grew = asyncio.Event()

    async def __call__(self, subject: str, data: bytes) -> None:
        self.signals.append(Signal.decode(data))
        self.grew.set()

    async def until(self, done: Any, what: str) -> None:
        try:
            async with asyncio.timeout(DEADLINE_S):
                while not done(self.signals):
                    self.grew.clear()
                    await self.grew.wait()
        except TimeoutError:
            raise AssertionError(f"the bus never carried {what}") from None


async def planner(input: dict[str, Any], context: Any, *, call: Any) -> dict[str, Any]:
    found = await asyncio.gather(
        *(call(neuron="researcher", input={"topic": t}) for t in input["topics"])
    )
    return {"found": found}


async def researcher(input: dict[str, Any], context: Any, *, call: Any) -> dict[str, Any]:
    asks = 2 if input["topic"] == "tides" else 1
    facts = await asyncio.gather(
        *(call(neuron="fact", input={"q": input["topic"], "n": i}) for i in range(asks))
    )
    return {"facts": facts}


async def fact(input: dict[str, Any], context: Any) -> dict[str, Any]:
    if input["q"] == "moon":
        await asyncio.Event().wait()  # blocked until the STOP cancels it
    return {"fact": f"{input['q']} {input['n']}"}


def expected_lines(trace: list[Signal]) -> Counter[tuple[str, int, str]]:
    """``(type, depth, "from -> to")`` of every Signal of the trace, from the recording."""
    by_id = {s.id: s for s in trace}
    out: Counter[tuple[str, int, str]] = Counter()
    for s in trace:
        if s.type is SignalType.TASK:
            depth = s.meta.get("depth", 0)
            caller = s.meta.get("caller", "api")
            out[(s.type.value, depth, f"{caller} -> {s.neuron}")] += 1
        elif s.type is SignalType.AGENT_OUTPUT:
            task = by_id[s.parent_id or ""]
            caller = task.meta.get("caller", "api")
            route = f"{s.neuron} -> {caller}"
            out[(s.type.value, task.meta.get("depth", 0), route)] += 1
    return out


def indent(depth: int) -> str:
    return "" if depth == 0 else "  " * (depth - 1) + "└ "


async def watch_delegation(
    server: DevSynapseServer, columns: str
) -> tuple[list[str], list[Signal]]:
    """Run the delegating workflow under ``cosmo doppler --trace`` with ``COLUMNS``; the
    lines it printed and the trace's Signals as recorded up to the end marker."""
    tid = new_trace_id()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": columns})
    proc = await asyncio.create_subprocess_exec(
        *(COSMO, "doppler", "--url", server.url, "-n", NS, "--trace", tid[-12:]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    try:
        ready = await asyncio.wait_for(proc.stderr.readline(), DEADLINE_S)
        assert b"watching" in ready, ready
        app = await connect_synapse(server.url)
        recorder = Recorder()
        await app.subscribe(namespace_wildcard(NS), recorder)
        hub = Dendrite(synapse=app, namespace=NS, dendrite_id="hub", role="worker", heartbeat_s=0)
        hub.attach_axon(Axon(neuron_id="planner", neuron_fn=planner))
        lab = Dendrite(synapse=app, namespace=NS, dendrite_id="lab", role="worker", heartbeat_s=0)
        lab.attach_axon(Axon(neuron_id="researcher", neuron_fn=researcher))
        lab.attach_axon(Axon(neuron_id="fact", neuron_fn=fact))
        api = Dendrite(
            synapse=app, namespace=NS, dendrite_id="api", role="orchestrator", heartbeat_s=0
        )
        dendrites = [hub, lab, api]
        for d in dendrites:
            await d.start()
        try:
            root = asyncio.ensure_future(
                api.dispatch_and_wait(
                    neuron="planner",
                    input={"topics": ["tides", "moon"]},
                    trace_id=tid,
                    timeout_s=DEADLINE_S,
                )
            )

            def settled(signals: list[Signal]) -> bool:
                # tides answered (two facts, then its researcher); moon's fact is running
                tasks = {s.id: s for s in signals if s.type is SignalType.TASK}
                answered = [
                    tasks[s.parent_id]
                    for s in signals
                    if s.type is SignalType.AGENT_OUTPUT and s.parent_id in tasks
                ]
                moon = [
                    t
                    for t in tasks.values()
                    if t.neuron == "fact" and t.payload["input"]["q"] == "moon"
                ]
                return (
                    sum(1 for t in answered if t.neuron == "fact") == 2
                    and any(t.neuron == "researcher" for t in answered)
                    and bool(moon)
                )

            await recorder.until(settled, "the tides branch answered and moon's fact asked")
            await api.stop_trace(tid)
            with pytest.raises(TraceStoppedError):
                await asyncio.wait_for(root, DEADLINE_S)
            await recorder.until(
                lambda signals: (
                    {"hub", "lab"}
                    <= {s.payload.get("node") for s in signals if s.type is SignalType.STOPPED}
                ),
                "the STOPPED acks of hub and lab",
            )
            marker = Signal(type=SignalType.HEARTBEAT, trace_id=tid, payload={"status": "end"})
            await app.publish(signal_subject(NS, "HEARTBEAT"), marker.encode())
            async with asyncio.timeout(DEADLINE_S):
                while True:
                    line = (await proc.stdout.readline()).decode().rstrip("\n")
                    assert line, f"the doppler ended early: {lines}"
                    lines.append(line)
                    if "HEARTBEAT" in line:
                        break
            await recorder.until(lambda signals: marker in signals, "the marker")
        finally:
            for d in reversed(dendrites):
                await d.stop()
            await app.close()
        trace = [s for s in recorder.signals[: recorder.signals.index(marker)] if s.trace_id == tid]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), DEADLINE_S)
    return lines, trace


def route_part(line: str) -> str:
    """What follows the trace column: ``[indent]from -> to  preview``."""
    _, sep, rest = line.partition("  trc…")
    assert sep, line
    return rest[len("XXXXXXXX  ") :]


async def test_doppler_indents_a_delegated_trace_and_names_what_its_stop_cut(
    server: DevSynapseServer,
) -> None:
    lines, trace = await watch_delegation(server, "200")
    want = expected_lines(trace)
    assert sum(want.values()) == 5 + 4  # TASKs: planner, 2 researchers, 3 facts; replies
    assert {depth for _, depth, _ in want} == {0, 1, 2}
    shown: Counter[tuple[str, int, str]] = Counter()
    for line in lines:
        kind = line.split()[1]
        if kind not in ("TASK", "AGENT_OUTPUT"):
            continue
        rest = route_part(line)
        for (k, depth, route), _ in want.items():
            if k == kind and rest.startswith(f"{indent(depth)}{route} "):
                shown[(k, depth, route)] += 1
                break
        else:
            raise AssertionError(f"no expected tree line matches {line!r}")
    assert shown == want, lines
    # the STOP line, then at once the cut: the root, moon's researcher and its fact
    stop_at = next(i for i, line in enumerate(lines) if line.split()[1] == "STOP")
    assert "api -> all" in lines[stop_at]
    cut = lines[stop_at + 1]
    assert cut.split()[1:3] == ["STOP", "cut"], lines
    assert route_part(cut) == (
        "3 open TASKs: planner (root), researcher (depth 1), fact (depth 2)"
    ), cut
    assert sum(1 for line in lines if " cut " in line) == 1
    assert any(line.split()[1] == "STOPPED" for line in lines[stop_at + 2 :])


async def test_doppler_tree_lines_fit_80_columns(server: DevSynapseServer) -> None:
    lines, trace = await watch_delegation(server, "80")
    assert all(cell_len(line) <= 80 for line in lines), lines
    grandchildren = [route_part(line) for line in lines if "researcher -> fact" in line]
    assert len(grandchildren) == 3 and all(
        r.startswith("  └ researcher -> fact") for r in grandchildren
    )
    cut = next(line for line in lines if line.split()[1:3] == ["STOP", "cut"])
    assert route_part(cut).startswith("3 open TASKs: planner (root)"), cut
    assert len(trace) >= 10


def test_the_tree_without_meta_depth_and_a_second_stop() -> None:
    """A peer that sends no ``meta.depth``: a TASK sits one below its parent TASK; a
    reply closes its TASK; a second STOP (or the same one again) cuts nothing more; a
    STOP of another trace cuts nothing of this one."""
    tree, routes = TraceTree(), RouteCache()
    root = builders.task_signal(input={}, neuron="planner", meta={"node": "api"})
    kids = [
        builders.task_signal(input={}, neuron=n, trace_id=root.trace_id, parent_id=root.id)
        for n in ("a", "b", "b")
    ]
    done = builders.agent_output_signal(kids[0], output={}, producer="a")
    for s in (root, *kids):
        tree.observe(s, routes.route(s))
    assert tree.observe(done, routes.route(done)) == (1, ())
    other = builders.stop_signal(trace_id="trc_other", producer="api")
    assert tree.observe(other, routes.route(other)) == (0, ())
    stop = builders.stop_signal(trace_id=root.trace_id, producer="api")
    depth, cuts = tree.observe(stop, routes.route(stop))
    assert (depth, cuts) == (0, (Cut("planner", 0, 1), Cut("b", 1, 2)))
    assert cut_summary(cuts) == "3 open TASKs: planner (root), b x2 (depth 1)"
    assert tree.observe(stop, routes.route(stop)) == (0, ())
    again = builders.stop_signal(trace_id=root.trace_id, producer="api")
    assert tree.observe(again, routes.route(again)) == (0, ())
