"""A tab opened after a workflow already ran: the replayed history arrives at once, and
the page must make of it what a tab open all along made of the live stream.

* "Follow latest" follows the trace whose newest Signal arrived last (latest activity),
  not the first trace of the replay.
* The Traces header counts exactly the traces the list shows.
* Every participant's dendrite is shown: the node named in its REGISTER / HEARTBEAT
  (``meta.node``), or in the Signals it sends.
"""

from __future__ import annotations

from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Directed,
    EngramBinding,
    InMemoryEngram,
    MemorySynapse,
    Signal,
    SignalType,
)
from cosmonapse.builders import heartbeat_signal
from cosmonapse.subjects import namespace_wildcard, signal_subject
from cosmonapse_prism import watch
from playwright.async_api import Page

from tests.browser.helpers import (
    DEADLINE_S,
    Recorder,
    listed_traces,
    text_of,
    wait_received,
    wait_text,
    wait_trace_shown,
)

pytestmark = pytest.mark.browser

NS = "prism-late"


async def echo(input: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"echo": input}


async def ingest(input: dict[str, Any], context: Any, *, imprint: Any) -> dict[str, Any]:
    await imprint(
        "notes", op="upsert", entry={"doc": input["doc"]}, merge_key="doc", await_ack=True
    )
    return {"stored": input["doc"]}


def dendrites(bus: MemorySynapse) -> tuple[Dendrite, list[Dendrite]]:
    host = Dendrite(synapse=bus, namespace=NS, dendrite_id="vault", role="worker", heartbeat_s=0)
    host.attach_engram(InMemoryEngram("notes"))
    worker = Dendrite(synapse=bus, namespace=NS, dendrite_id="shed", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo, capabilities=["echo"]))
    worker.attach_axon(
        Axon(
            neuron_id="ingest",
            neuron_fn=ingest,
            capabilities=["ingest"],
            engrams=[EngramBinding(name="notes", directed_id="notes")],
        )
    )
    api = Dendrite(
        synapse=bus, namespace=NS, dendrite_id="desk", role="orchestrator", heartbeat_s=0
    )
    return api, [host, worker, api]


async def follows(page: Page, trace_id: str, recorder: Recorder) -> None:
    """The tree shows ``trace_id`` (all its Signals) and the list marks it selected."""
    rows = sum(1 for s in recorder.signals if s.trace_id == trace_id)
    await wait_trace_shown(page, trace_id, rows)
    selected = await page.eval_on_selector_all(
        '#trace-list [aria-selected="true"]', "items => items.map(i => i.dataset.trace)"
    )
    assert selected == [trace_id]


async def check_trace_list(page: Page, recorder: Recorder) -> None:
    """Newest activity first, and the header counts exactly what is listed."""
    expected = recorder.traces_by_activity()
    await page.wait_for_function(
        "ids => Array.from(document.querySelectorAll('#trace-list [data-trace]'),"
        " (i) => i.dataset.trace).join() === ids.join()",
        arg=expected,
    )
    assert await text_of(page, "#trace-count") == f"{len(expected)} shown"
    assert await text_of(page, '[data-metric="traces"] .value') == str(len(expected))


async def test_a_tab_opened_after_a_run_follows_the_latest_trace(open_page):
    recorder = Recorder()
    async with MemorySynapse() as bus, watch(bus, NS, port=0) as view:
        await bus.subscribe(namespace_wildcard(NS), recorder)
        api, all_dendrites = dendrites(bus)
        for d in all_dendrites:
            await d.start()
        try:
            first = await api.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=DEADLINE_S)
            second = await api.dispatch_and_wait(
                neuron="echo", input={"n": 2}, timeout_s=DEADLINE_S
            )
            third = await api.dispatch_and_wait(
                neuron="ingest", input={"doc": "d1"}, timeout_s=DEADLINE_S
            )
            # More work on the second trace: now its newest Signal is the last to arrive.
            again = await api.dispatch_and_wait(
                neuron="echo", input={"n": 3}, trace_id=second.trace_id, timeout_s=DEADLINE_S
            )
            assert len({first.trace_id, second.trace_id, third.trace_id}) == 3
            beat = heartbeat_signal(participant="lone", node="far-host")
            await bus.publish(signal_subject(NS, "HEARTBEAT"), beat.encode())
            total = await recorder.holding({again.id, beat.id})
            assert recorder.traces_by_activity() == [
                second.trace_id,
                third.trace_id,
                first.trace_id,
            ]

            page, problems = await open_page(view.url)
            await wait_received(page, total)
            await follows(page, second.trace_id, recorder)
            assert await page.get_attribute("#trace-follow", "aria-pressed") == "true"
            await check_trace_list(page, recorder)
            await check_dendrites(page)

            # live: a new trace is followed
            fourth = await api.dispatch_and_wait(
                neuron="echo", input={"n": 4}, timeout_s=DEADLINE_S
            )
            await wait_received(page, await recorder.holding({fourth.id}))
            await follows(page, fourth.trace_id, recorder)
            await check_trace_list(page, recorder)

            # a trace picked by hand stays picked while others move on...
            await page.click(f'#trace-list [data-trace="{first.trace_id}"]')
            await follows(page, first.trace_id, recorder)
            assert await page.get_attribute("#trace-follow", "aria-pressed") == "false"
            fifth = await api.dispatch_and_wait(neuron="echo", input={"n": 5}, timeout_s=DEADLINE_S)
            await wait_received(page, await recorder.holding({fifth.id}))
            await check_trace_list(page, recorder)  # the list has moved on
            await follows(page, first.trace_id, recorder)
            # ...until "Follow latest"
            await page.click("#trace-follow")
            await follows(page, fifth.trace_id, recorder)
            assert problems.items == []
        finally:
            for d in reversed(all_dendrites):
                await d.stop()


async def check_dendrites(page: Page) -> None:
    for ident, role, dendrite in [
        ("echo", "neuron", "shed"),  # REGISTER meta.node
        ("ingest", "neuron", "shed"),
        ("notes", "engram", "vault"),
        ("lone", None, "far-host"),  # known only from a HEARTBEAT, which names no role
        ("desk", "orchestrator", "desk"),  # no REGISTER: the meta.node of its TASKs
    ]:
        row = f'#participant-table tr[data-participant="{ident}"]'
        await wait_text(page, f"{row} td:nth-child(3)", dendrite)
        if role:
            assert await text_of(page, f"{row} td:nth-child(2)") == role


async def test_trace_header_counts_what_the_list_shows_past_its_length(open_page):
    async with MemorySynapse() as bus, watch(bus, NS, port=0) as view:
        page, problems = await open_page(view.url)
        await page.wait_for_selector('#conn[data-state="live"]')
        await page.wait_for_function(
            "() => document.querySelector('#count-viewers').textContent === '1'"
        )
        register = Signal(
            type=SignalType.REGISTER, directed=Directed("w"), payload={"role": "neuron"}
        )
        await bus.publish(signal_subject(NS, "REGISTER"), register.encode())
        traces = []
        for i in range(35):
            task = Signal(type=SignalType.TASK, payload={"input": {"i": i}}, directed=Directed("w"))
            reply = task.reply(
                SignalType.AGENT_OUTPUT, {"output": {"i": i}}, directed=Directed("w")
            )
            for sig in (task, reply):
                await bus.publish(signal_subject(NS, sig.type.value), sig.encode())
            traces.append(task.trace_id)
        await wait_received(page, 1 + 2 * len(traces))
        await wait_text(page, "#trace-count", f"latest 30 of {len(traces)}")
        assert await listed_traces(page) == traces[::-1][:30]
        assert await text_of(page, '[data-metric="traces"] .value') == str(len(traces))
        await page.click("#clear")
        await wait_text(page, "#trace-count", "0 shown")
        assert await listed_traces(page) == []
        assert problems.items == []
