"""Prism in a real browser, watching a real dev synapse while real Dendrites run a
workflow: its Signals, trace nesting, participants and metrics appear; filters and pause
work; markup in payloads and ids is shown as text and never runs.

Expected values are computed from an independent recording of the bus, so the page is
checked against what actually travelled, not against numbers written into the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Directed,
    EngramBinding,
    InMemoryEngram,
    MemorySynapse,
    NeuronError,
    RetryStrategy,
    Signal,
    SignalType,
    connect_synapse,
    new_trace_id,
)
from cosmonapse.subjects import namespace_wildcard, signal_subject
from cosmonapse_cli.server import DevSynapseServer
from cosmonapse_prism import PrismServer, watch
from playwright.async_api import Page

from tests.browser.helpers import (
    DEADLINE_S,
    Recorder,
    filter_list,
    text_of,
    wait_received,
    wait_text,
    wait_trace_shown,
)

pytestmark = pytest.mark.browser

NS = "prism-browser"
MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
MARKUP_ID = '<img src=y onerror="window.__pwned=3">'


# -- the workflow's neurons -----------------------------------------------------------


async def echo(input: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"echo": input}


async def broken(input: dict[str, Any], context: Any) -> dict[str, Any]:
    raise NeuronError("disk on fire <b>!</b>", code="BROKEN")


def make_shaky() -> Any:
    calls = {"n": 0}

    async def shaky(input: dict[str, Any], context: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise NeuronError("busy, try again", code="BUSY", recoverable=True)
        return {"ok": True, "call": calls["n"]}

    return shaky


async def ingester(input: dict[str, Any], context: Any, *, imprint: Any) -> dict[str, Any]:
    for i in range(2):
        await imprint(
            "notes",
            op="upsert",
            entry={"i": i, "text": f"note {i}"},
            merge_key=f"k{i}",
            await_ack=True,
            timeout_s=5.0,
        )
    raise RuntimeError("crashed after 2 writes")


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


# -- the test ----------------------------------------------------------------------------


async def test_prism_shows_a_workflow_on_a_dev_synapse(open_page, tmp_path):
    async with DevSynapseServer("127.0.0.1", port=0) as bus:
        watcher = await connect_synapse(bus.url)
        async with PrismServer(watcher, NS, port=0, owns_synapse=True) as view:
            app = await connect_synapse(bus.url)
            recorder = Recorder()
            await app.subscribe(namespace_wildcard(NS), recorder)
            page, problems = await open_page(view.url)
            try:
                await page.wait_for_selector('#conn[data-state="live"]')
                await wait_text(page, "#namespace", NS)  # from the stream's hello
                assert await text_of(page, "#synapse") == bus.url
                await run_and_check(page, app, recorder, tmp_path)
                assert await page.evaluate("window.__pwned") is None
                assert problems.items == []
            finally:
                await app.close()


async def run_and_check(page: Page, app: Any, recorder: Recorder, tmp_path: Path) -> None:
    notes = InMemoryEngram("notes")
    host = Dendrite(
        synapse=app, namespace=NS, dendrite_id="engram-host", role="worker", heartbeat_s=0
    )
    host.attach_engram(notes)
    worker = Dendrite(synapse=app, namespace=NS, dendrite_id="worker", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo, capabilities=["echo"]))
    worker.attach_axon(Axon(neuron_id="broken", neuron_fn=broken, capabilities=["broken"]))
    worker.attach_axon(Axon(neuron_id="shaky", neuron_fn=make_shaky(), capabilities=["shaky"]))
    worker.attach_axon(
        Axon(
            neuron_id="ingester",
            neuron_fn=ingester,
            capabilities=["ingest"],
            engrams=[EngramBinding(name="notes", directed_id="notes")],
        )
    )
    api = Dendrite(synapse=app, namespace=NS, dendrite_id="api", role="orchestrator", heartbeat_s=0)
    dendrites = [host, worker, api]
    for d in dendrites:
        await d.start()
    try:
        # 1. a plain round trip whose payload carries markup
        out = await api.dispatch_and_wait(
            neuron="echo", input={"html": MARKUP, "token": "alpha-123"}, timeout_s=DEADLINE_S
        )
        assert out.type is SignalType.AGENT_OUTPUT
        # 2. a neuron that fails
        err = await api.dispatch_and_wait(neuron="broken", input={"x": 1}, timeout_s=DEADLINE_S)
        assert err.type is SignalType.ERROR
        # 3. a recoverable failure, retried (STOP + a second attempt)
        ok = await api.run_with_retry(
            neuron="shaky",
            input={"q": "again"},
            retry=RetryStrategy(max_attempts=3, timeout_s=DEADLINE_S),
        )
        assert ok.type is SignalType.AGENT_OUTPUT
        # 4. a partial write rolled back
        tid = new_trace_id()
        crashed = await api.dispatch_and_wait(
            neuron="ingester", input={"doc": "d1"}, trace_id=tid, timeout_s=DEADLINE_S
        )
        assert crashed.type is SignalType.ERROR
        acks = await api.stop_trace(tid, rollback=True, collect_acks=True, timeout_s=5)
        assert sum(a.payload.get("compensated", 0) for a in acks) == 2
        # 5. a participant whose id is markup
        marked = Signal(
            type=SignalType.REGISTER,
            directed=Directed(MARKUP_ID),
            payload={"role": "neuron", "capabilities": []},
        )
        await app.publish(signal_subject(NS, "REGISTER"), marked.encode())

        # Settled: the last publish arrived, and every Dendrite that worked on a stopped
        # trace acked its STOP (acks are sent after the calls above have returned).
        await recorder.holding({marked.id})
        await recorder.until(lambda signals: all_acked(signals, tid), "every STOPPED ack")
        total = len(recorder.signals)
        await wait_received(page, total)
        rec = recorder.signals
        await check_metrics(page, recorder, total)
        await check_participants(page)
        await check_filters_and_markup(page, recorder, out, err, total)
        await check_trace_nesting(page, [s for s in rec if s.trace_id == tid], tid)
        await save_screenshot(page, tmp_path)
        await check_pause(page, app, recorder)
        await check_theme(page)
    finally:
        for d in reversed(dendrites):
            await d.stop()
    await page.wait_for_selector(
        '#participant-table tr[data-participant="echo"][data-status="down"]'
    )


def all_acked(signals: list[Signal], rolled_back: str) -> bool:
    """Both STOPs acked: the retry's by api and worker, the rollback's by engram-host too."""
    stops = [s for s in signals if s.type is SignalType.STOP]
    for stop in stops:
        want = {"api", "worker"} | ({"engram-host"} if stop.trace_id == rolled_back else set())
        got = {
            s.payload.get("node")
            for s in signals
            if s.type is SignalType.STOPPED and s.parent_id == stop.id
        }
        if not want <= got:
            return False
    return len(stops) == 2


async def check_metrics(page: Page, recorder: Recorder, total: int) -> None:
    rec = recorder.signals
    errors = len(recorder.of_type(SignalType.ERROR))
    retries = sum(1 for s in recorder.of_type(SignalType.TASK) if (s.meta.get("attempt") or 1) > 1)
    stops = len(recorder.of_type(SignalType.STOP))
    stopped = recorder.of_type(SignalType.STOPPED)
    rollbacks = sum(1 for s in stopped if s.payload.get("compensated", 0) > 0)
    compensated = sum(s.payload.get("compensated", 0) for s in stopped)
    assert errors >= 2 and retries == 1 and stops >= 2 and rollbacks == 1 and compensated == 2
    await wait_text(page, '[data-metric="signals"] .value', str(total))
    for name, value in [
        ("errors", errors),
        ("retries", retries),
        ("stops", stops),
        ("rollbacks", rollbacks),
        ("compensated", compensated),
    ]:
        await wait_text(page, f'[data-metric="{name}"] .value', str(value))
    # latency: one sample per TASK to echo that got a reply
    replied = {s.parent_id for s in rec if s.type.value in ("AGENT_OUTPUT", "FINAL", "ERROR")}
    echo_tasks = [
        s for s in recorder.of_type(SignalType.TASK) if s.neuron == "echo" and s.id in replied
    ]
    row = '#latency-table tr[data-neuron="echo"]'
    await page.wait_for_selector(row)
    assert await text_of(page, f"{row} td:nth-child(2)") == str(len(echo_tasks))
    for cell in ("p50", "p95"):
        value = await text_of(page, f"{row} .{cell}")
        assert value.endswith(("s", "ms", "µs")) and any(c.isdigit() for c in value), value
    assert await text_of(page, '#latency-table tr[data-neuron="broken"] td:last-child') == "1"
    # signals by type
    tasks = len(recorder.of_type(SignalType.TASK))
    assert await text_of(page, '#rate-table tr[data-type="TASK"] td:last-child') == str(tasks)


async def check_participants(page: Page) -> None:
    for ident, role, dendrite in [
        ("echo", "neuron", "worker"),
        ("ingester", "neuron", "worker"),
        ("notes", "engram", "engram-host"),
    ]:
        row = f'#participant-table tr[data-participant="{ident}"]'
        await page.wait_for_selector(f'{row}[data-status="up"]')
        assert await text_of(page, f"{row} td:nth-child(2)") == role
        assert await text_of(page, f"{row} td:nth-child(3)") == dendrite
    edge = '#edge-table tr[data-from="ingester"][data-to="notes"]'
    await page.wait_for_selector(edge)
    assert "IMPRINT" in await text_of(page, f"{edge} td:nth-child(3)")
    await page.wait_for_selector('#edge-table tr[data-to="echo"]')
    assert await page.locator("#graph .node").count() >= 4
    # the markup id is a text cell and an SVG text, nothing more
    cells = await page.eval_on_selector_all(
        "#participant-table td", "tds => tds.map(td => td.textContent)"
    )
    assert MARKUP_ID in cells
    assert await page.locator('img[src="y"]').count() == 0


async def check_filters_and_markup(
    page: Page, recorder: Recorder, out: Signal, err: Signal, total: int
) -> None:
    rec = recorder.signals
    # type
    errors = recorder.of_type(SignalType.ERROR)
    await filter_list(page, total=total, expect=[s.id for s in errors], type="ERROR")
    # neuron: its REGISTER, TASK and ERROR (as many rows as the ERROR filter showed)
    involving = [s.id for s in rec if s.neuron == "broken"]
    assert {err.parent_id, err.id} < set(involving)
    await filter_list(page, total=total, expect=involving, neuron="broken")
    # trace
    echo_trace = [s.id for s in rec if s.trace_id == out.trace_id]
    await filter_list(page, total=total, expect=echo_trace, trace=out.trace_id[-10:])
    # free text, and markup shown as text
    matching = [s.id for s in rec if "alpha-123" in json.dumps(s.payload) + json.dumps(s.meta)]
    assert len(matching) == 2
    rows = await filter_list(page, total=total, expect=matching, text="ALPHA-123")
    assert all("<img src=x onerror=" in r["summary"] for r in rows)
    await page.click(f'#list .row[data-id="{out.parent_id}"]')
    await page.wait_for_selector("#detail:not([hidden])")
    detail = await text_of(page, "#detail-json")
    assert "<script>window.__pwned=2</script>" in detail
    assert await page.locator('img[src="x"]').count() == 0
    assert await page.locator("#list b, #detail b, #trace-tree b").count() == 0
    assert await page.evaluate("window.__pwned") is None
    # clicking a Signal shows its trace
    await wait_text(page, "#trace-selected", out.trace_id)
    await page.click("#detail-close")
    await filter_list(page, total=total, expect=None)


async def check_trace_nesting(page: Page, trace: list[Signal], tid: str) -> None:
    expected = depths(trace)
    assert max(expected.values()) >= 2  # TASK > IMPRINT > IMPRINTED at least
    await page.click(f'#trace-list [data-trace="{tid}"]')
    await wait_trace_shown(page, tid, len(trace))
    shown = await page.eval_on_selector_all(
        "#trace-tree .trow",
        "rows => rows.map(r => [r.dataset.id, Number(r.dataset.depth),"
        " r.querySelector('.t-at').textContent])",
    )
    assert {i: d for i, d, _ in shown} == expected
    assert all(at.startswith("+") for _, _, at in shown)
    task = next(s for s in trace if s.type is SignalType.TASK)
    took = await text_of(page, f'#trace-tree .trow[data-id="{task.id}"] .t-took')
    assert took.startswith("↳")
    status = await page.get_attribute(f'#trace-list [data-trace="{tid}"]', "data-status")
    assert status in ("error", "stopped")


async def save_screenshot(page: Page, tmp_path: Path) -> None:
    """Always into the test's tmp_path; with PRISM_SCREENSHOT_DIR set (the README's
    pictures: packages/prism/docs) also there, light and dark."""
    # Every panel already shows every Signal (the caller waited for the received count).
    await page.screenshot(path=str(tmp_path / "prism.png"))
    target = os.environ.get("PRISM_SCREENSHOT_DIR")
    if not target:
        return
    await page.screenshot(path=str(Path(target) / "prism.png"))
    await page.click("#theme-toggle")  # auto -> light
    await page.click("#theme-toggle")  # light -> dark
    await page.wait_for_function(
        "() => getComputedStyle(document.body).backgroundColor === 'rgb(15, 17, 23)'"
    )
    await page.screenshot(path=str(Path(target) / "prism-dark.png"))
    await page.click("#theme-toggle")  # dark -> auto


async def check_pause(page: Page, app: Any, recorder: Recorder) -> None:
    before = await text_of(page, "#list-count")
    await page.click("#pause")
    assert await page.get_attribute("#pause", "aria-pressed") == "true"
    late = [
        Signal(
            type=SignalType.AGENT_OUTPUT, payload={"output": {"late": i}}, directed=Directed("echo")
        )
        for i in range(3)
    ]
    for sig in late:
        await app.publish(signal_subject(NS, "AGENT_OUTPUT"), sig.encode())
    await wait_received(page, await recorder.holding({s.id for s in late}))
    await page.wait_for_selector("#notice-paused:not([hidden])")
    assert "3 new Signals are held" in await text_of(page, "#notice-paused")
    assert await text_of(page, "#list-count") == before
    await page.click("#pause")
    count = int(before.split()[0]) + 3
    await wait_text(page, "#list-count", f"{count} shown")
    await page.wait_for_selector("#notice-paused", state="hidden")


async def check_theme(page: Page) -> None:
    light = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    await page.click("#theme-toggle")  # auto -> light
    await page.click("#theme-toggle")  # light -> dark
    assert await page.get_attribute("html", "data-theme") == "dark"
    dark = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark != light
    await page.click("#theme-toggle")  # dark -> auto
    assert await page.get_attribute("html", "data-theme") is None


async def test_dark_scheme_is_followed_without_the_toggle(open_page):
    async with MemorySynapse() as bus, watch(bus, NS, port=0) as view:
        page, problems = await open_page(view.url, color_scheme="dark")
        await page.wait_for_selector('#conn[data-state="live"]')
        bg = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(15, 17, 23)"
        assert problems.items == []


async def test_page_says_when_the_synapse_is_gone(open_page):
    bus = MemorySynapse()
    async with watch(bus, NS, port=0, stats_interval_s=0.2) as view:
        page, problems = await open_page(view.url)
        await page.wait_for_selector('#conn[data-state="live"]')
        assert await page.is_hidden("#notice-conn")
        await bus.close()
        await page.wait_for_selector("#notice-conn:not([hidden])")
        assert "connection to the synapse is closed" in (await text_of(page, "#notice-conn"))
        assert problems.items == []
