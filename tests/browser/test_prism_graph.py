"""The participants graph of a workflow with several participants: no two labels on it
overlap (names in their boxes, and the count on each edge, both directions of a pair
included), a name too long for its box is cut with an ellipsis and kept whole in the
tooltip, and no edge loses its count."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, EngramBinding, InMemoryEngram, MemorySynapse
from cosmonapse.subjects import namespace_wildcard
from cosmonapse_prism import watch

from tests.browser.helpers import DEADLINE_S, Recorder, wait_received

pytestmark = pytest.mark.browser

NS = "prism-graph"
LONG = "summariser-of-very-long-quarterly-reports"
NEURONS = ["echo", "upper", "lower", "count", "reverse", LONG]

LABELS = """() => Array.from(document.querySelectorAll('#graph text'), (t) => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  };
  const node = t.closest('.node');
  return {
    text: t.textContent,
    box: box(t),
    node: node ? node.dataset.id : null,
    frame: node ? box(node.querySelector('rect')) : null,
    title: node ? node.querySelector('title').textContent : null,
  };
})"""


async def work(input: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"done": input}


async def ingest(input: dict[str, Any], context: Any, *, imprint: Any) -> dict[str, Any]:
    await imprint("notes", op="upsert", entry=input, merge_key="k", await_ack=True)
    return {"stored": True}


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


async def test_graph_labels_do_not_overlap(open_page):
    recorder = Recorder()
    async with MemorySynapse() as bus, watch(bus, NS, port=0) as view:
        await bus.subscribe(namespace_wildcard(NS), recorder)
        host = Dendrite(
            synapse=bus, namespace=NS, dendrite_id="vault", role="worker", heartbeat_s=0
        )
        host.attach_engram(InMemoryEngram("notes"))
        shed = Dendrite(synapse=bus, namespace=NS, dendrite_id="shed", role="worker", heartbeat_s=0)
        for name in NEURONS:
            shed.attach_axon(Axon(neuron_id=name, neuron_fn=work, capabilities=[name]))
        shed.attach_axon(
            Axon(
                neuron_id="ingest",
                neuron_fn=ingest,
                capabilities=["ingest"],
                engrams=[EngramBinding(name="notes", directed_id="notes")],
            )
        )
        desks = [
            Dendrite(synapse=bus, namespace=NS, dendrite_id=d, role="orchestrator", heartbeat_s=0)
            for d in ("desk", "front")
        ]
        everyone = [host, shed, *desks]
        for d in everyone:
            await d.start()
        page, problems = await open_page(view.url)
        try:
            last = None
            for i, name in enumerate([*NEURONS, "ingest", "echo", "upper"]):
                desk = desks[i % 2]
                last = await desk.dispatch_and_wait(
                    neuron=name, input={"k": i}, timeout_s=DEADLINE_S
                )
            assert last is not None
            await wait_received(page, await recorder.holding({last.id}))

            edges = await page.locator("#edge-table tbody tr").count()
            assert edges >= 14  # each orchestrator to and from several neurons, ingest to notes
            assert await page.locator("#graph path.edge").count() == edges
            labels = await page.evaluate(LABELS)
            counts = [label for label in labels if label["node"] is None]
            names = [label for label in labels if label["node"] is not None]
            assert len(counts) == edges, "every edge keeps its count"
            assert {n["node"] for n in names} == {*NEURONS, "ingest", "notes", "desk", "front"}
            for a, b in combinations(labels, 2):
                assert not overlap(a["box"], b["box"]), f"{a['text']!r} overlaps {b['text']!r}"
            for n in names:
                left, top, right, bottom = n["frame"]
                x0, y0, x1, y1 = n["box"]
                assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, n
                assert n["title"].startswith(f"{n['node']} (")
            long = next(n for n in names if n["node"] == LONG)
            assert long["text"].endswith("…") and LONG.startswith(long["text"][:-1])
            assert problems.items == []
        finally:
            for d in reversed(everyone):
                await d.stop()
