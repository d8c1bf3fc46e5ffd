"""Prism in a real browser on a real dev synapse while Neurons delegate: a planner asks two
researchers, one of which asks a fact finder, the other blocks until the user STOPs the
trace. The graph shows the tree's edges (api -> planner -> researcher -> fact, each reply
back), neurons placed left to right by delegation depth; the trace view nests the tree and
marks the TASKs the STOP cut (the root and the blocked researcher), and no other.

Expected values come from an independent recording of the bus."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Signal,
    SignalType,
    TraceStoppedError,
    connect_synapse,
    new_trace_id,
)
from cosmonapse.subjects import namespace_wildcard
from cosmonapse_cli.server import DevSynapseServer
from cosmonapse_prism import PrismServer
from playwright.async_api import Page

from tests.browser.helpers import DEADLINE_S, Recorder, wait_received, wait_trace_shown

pytestmark = pytest.mark.browser

NS = "prism-delegation"
ACKING = {"api", "hub", "lab"}  # every Dendrite with a stake in the trace acks its STOP


async def planner(input: dict[str, Any], context: Any, *, call: Any) -> dict[str, Any]:
    found = await asyncio.gather(
        *(call(neuron="researcher", input={"topic": t}) for t in input["topics"])
    )
    return {"found": found}


async def researcher(input: dict[str, Any], context: Any, *, call: Any) -> dict[str, Any]:
    if input["topic"] == "moon":
        await asyncio.Event().wait()  # blocked until the STOP cancels it
    return {"fact": await call(neuron="fact", input={"q": input["topic"]})}


async def fact(input: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"fact": f"{input['q']} rise twice a day"}


def settled(signals: list[Signal]) -> bool:
    """The tides branch has answered and the moon researcher was asked."""
    tasks = {s.id: s for s in signals if s.type is SignalType.TASK}
    answered = {
        tasks[s.parent_id].neuron
        for s in signals
        if s.type is SignalType.AGENT_OUTPUT and s.parent_id in tasks
    }
    asked = [t for t in tasks.values() if t.payload["input"].get("topic") == "moon"]
    return {"fact", "researcher"} <= answered and bool(asked)


def acked(signals: list[Signal]) -> bool:
    nodes = {s.payload.get("node") for s in signals if s.type is SignalType.STOPPED}
    return nodes >= ACKING


async def test_prism_shows_the_delegation_tree_and_what_a_stop_cut(open_page, tmp_path):
    async with DevSynapseServer("127.0.0.1", port=0) as bus:
        watcher = await connect_synapse(bus.url)
        async with PrismServer(watcher, NS, port=0, owns_synapse=True) as view:
            app = await connect_synapse(bus.url)
            recorder = Recorder()
            await app.subscribe(namespace_wildcard(NS), recorder)
            page, problems = await open_page(view.url)
            hub = Dendrite(
                synapse=app, namespace=NS, dendrite_id="hub", role="worker", heartbeat_s=0
            )
            hub.attach_axon(Axon(neuron_id="planner", neuron_fn=planner))
            lab = Dendrite(
                synapse=app, namespace=NS, dendrite_id="lab", role="worker", heartbeat_s=0
            )
            lab.attach_axon(Axon(neuron_id="researcher", neuron_fn=researcher))
            lab.attach_axon(Axon(neuron_id="fact", neuron_fn=fact))
            api = Dendrite(
                synapse=app, namespace=NS, dendrite_id="api", role="orchestrator", heartbeat_s=0
            )
            dendrites = [hub, lab, api]
            try:
                await page.wait_for_selector('#conn[data-state="live"]')
                for d in dendrites:
                    await d.start()
                tid = await run_tree(api, recorder)
                await wait_received(page, len(recorder.signals))
                trace = [s for s in recorder.signals if s.trace_id == tid]
                await check_graph(page)
                await check_tree(page, trace, tid)
                await page.screenshot(path=str(tmp_path / "prism-delegation.png"))
                assert problems.items == []
            finally:
                for d in reversed(dendrites):
                    await d.stop()
                await app.close()


async def run_tree(api: Dendrite, recorder: Recorder) -> str:
    """Run the tree, STOP it mid-way; its trace id, once every ack has arrived."""
    tid = new_trace_id()
    root = asyncio.ensure_future(
        api.dispatch_and_wait(
            neuron="planner",
            input={"topics": ["tides", "moon"]},
            trace_id=tid,
            timeout_s=DEADLINE_S,
        )
    )
    await recorder.until(settled, "the tides branch answered and the moon researcher asked")
    await api.stop_trace(tid, reason="the user stopped it")
    with pytest.raises(TraceStoppedError):
        await asyncio.wait_for(root, DEADLINE_S)
    await recorder.until(acked, f"the STOPPED acks of {sorted(ACKING)}")
    return tid


EDGES = [
    ("api", "planner"),
    ("planner", "researcher"),
    ("researcher", "fact"),
    ("fact", "researcher"),
    ("researcher", "planner"),
]


async def check_graph(page: Page) -> None:
    for a, b in EDGES:
        await page.wait_for_selector(f'#edge-table tr[data-from="{a}"][data-to="{b}"]')
        assert await page.locator(f'#graph path.edge[data-from="{a}"][data-to="{b}"]').count() == 1
    # the root's reply never came: nothing from planner back to api
    assert await page.locator('#edge-table tr[data-from="planner"][data-to="api"]').count() == 0
    columns = {
        name: int(await page.get_attribute(f'#graph .node[data-id="{name}"]', "data-column") or -1)
        for name in ("api", "planner", "researcher", "fact")
    }
    assert columns["api"] < columns["planner"] < columns["researcher"] < columns["fact"], columns


def depths(trace: list[Signal]) -> dict[str, int]:
    by_id = {s.id: s for s in trace}
    out: dict[str, int] = {}
    for s in trace:
        depth, parent = 0, s.parent_id
        while parent in by_id:
            depth += 1
            parent = by_id[parent].parent_id
        out[s.id] = depth
    return out


def cut_by_stop(trace: list[Signal]) -> set[str]:
    """TASKs that had no reply yet when the STOP passed."""
    stop_at = next(i for i, s in enumerate(trace) if s.type is SignalType.STOP)
    before = trace[:stop_at]
    tasks = {s.id for s in before if s.type is SignalType.TASK}
    answered = {
        s.parent_id for s in before if s.type in (SignalType.AGENT_OUTPUT, SignalType.ERROR)
    }
    return tasks - answered


ROWS = """rows => rows.map(r => ({
  id: r.dataset.id, depth: Number(r.dataset.depth), cut: r.classList.contains('cut'),
  marked: r.dataset.cut ?? null, route: r.querySelector('.t-route').textContent,
  mark: r.querySelector('.cut-mark')?.textContent ?? null,
  why: r.querySelector('.cut-mark')?.title ?? null, took: r.querySelector('.t-took').textContent,
}))"""


async def check_tree(page: Page, trace: list[Signal], tid: str) -> None:
    tasks = {s.id: s for s in trace if s.type is SignalType.TASK}
    root = next(t for t in tasks.values() if t.parent_id is None)
    moon = next(t for t in tasks.values() if t.payload["input"].get("topic") == "moon")
    assert cut_by_stop(trace) == {root.id, moon.id}
    await page.click(f'#trace-list [data-trace="{tid}"]')
    await wait_trace_shown(page, tid, len(trace))
    rows = {r["id"]: r for r in await page.eval_on_selector_all("#trace-tree .trow", ROWS)}
    assert {i: r["depth"] for i, r in rows.items()} == depths(trace)
    assert {i for i, r in rows.items() if r["cut"]} == {root.id, moon.id}
    for i in (root.id, moon.id):
        assert (
            rows[i]["mark"] == "✂ cut"
            and rows[i]["why"] == "cut by STOP"
            and rows[i]["marked"] == "stop"
        ), rows[i]
    assert all(r["mark"] is None for i, r in rows.items() if i not in (root.id, moon.id))
    for task in tasks.values():
        caller = task.meta.get("caller", "api")
        assert rows[task.id]["route"] == f"{caller} → {task.neuron}", rows[task.id]
        # a delegated TASK nests under the TASK that delegated it: its row's depth is its
        # meta.depth
        assert rows[task.id]["depth"] == task.meta.get("depth", 0)
    summary = (await page.locator("#trace-summary").text_content()) or ""
    assert "2 cut by STOP" in summary, summary
