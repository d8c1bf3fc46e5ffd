"""Prism under load in a real browser, watching an in-process MemorySynapse through
``prism.watch``: every Signal is either shown or counted as dropped (and the page says
so), the list stays virtualised and bounded, and the page keeps answering.

Frame timings are printed for the record (``-s``), never asserted: machines are noisy.
"""

from __future__ import annotations

import asyncio

import pytest
from cosmonapse import Directed, MemorySynapse, Signal, SignalType
from cosmonapse.subjects import signal_subject
from cosmonapse_prism import watch

pytestmark = pytest.mark.browser

NS = "prism-load"
RATE = 2000  # Signals per second
SECONDS = 4
DEADLINE_S = 30.0  # hang guard only

PROBE = """() => {
  const probe = { frames: 0, maxGap: 0, over50: 0, over100: 0, last: performance.now() };
  window.__probe = probe;
  const tick = (now) => {
    const gap = now - probe.last;
    probe.last = now;
    probe.frames++;
    if (gap > probe.maxGap) probe.maxGap = gap;
    if (gap > 50) probe.over50++;
    if (gap > 100) probe.over100++;
    if (!probe.stop) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def workflow_pair(i: int) -> list[Signal]:
    task = Signal(
        type=SignalType.TASK,
        payload={"input": {"n": i, "text": f"question number {i} " * 4}},
        directed=Directed(f"worker-{i % 8}"),
    )
    reply = task.reply(
        SignalType.AGENT_OUTPUT,
        {"output": {"n": i, "text": f"answer number {i} " * 4}},
        directed=Directed(f"worker-{i % 8}"),
    )
    return [task, reply]


COUNTS_ARE = """([received, dropped]) =>
  Number(document.querySelector('#count-received').textContent) === received &&
  Number(document.querySelector('#count-dropped').textContent) === dropped"""
SUM_IS = """n =>
  Number(document.querySelector('#count-received').textContent) +
  Number(document.querySelector('#count-dropped').textContent) === n"""


async def counts(page) -> tuple[int, int]:
    received = await page.text_content("#count-received")
    dropped = await page.text_content("#count-dropped")
    return int(received or 0), int(dropped or 0)


async def publish(bus: MemorySynapse, signal: Signal) -> None:
    await bus.publish(signal_subject(NS, signal.type.value), signal.encode())


async def test_page_keeps_up_with_2000_signals_per_second(open_page):
    async with MemorySynapse() as bus, watch(bus, NS, port=0) as view:
        page, problems = await open_page(view.url)
        await page.wait_for_selector('#conn[data-state="live"]')
        await page.evaluate(PROBE)
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        total = RATE * SECONDS
        i = 0
        while sent < total:
            due = min(total, int((loop.time() - start) * RATE))
            while sent < due:
                for signal in workflow_pair(i):
                    await publish(bus, signal)
                i += 1
                sent += 2
            await asyncio.sleep(0.01)
        took = loop.time() - start

        await page.wait_for_function(SUM_IS, arg=sent, timeout=DEADLINE_S * 1000)
        received, dropped = await counts(page)
        probe = await page.evaluate("() => { window.__probe.stop = true; return window.__probe; }")
        rows = await page.locator("#list .row").count()
        shown = await page.text_content("#list-count")
        print(
            f"\nprism load: sent {sent} in {took:.2f} s ({sent / took:.0f}/s); page received "
            f"{received}, dropped {dropped}; {probe['frames']} frames, longest gap "
            f"{probe['maxGap']:.0f} ms, gaps > 50 ms: {probe['over50']}, > 100 ms: "
            f"{probe['over100']}; list: {shown}, {rows} row elements"
        )
        assert received + dropped == sent
        assert rows < 100  # virtualised: only the rows in sight exist
        kept = min(received, 5000)  # the list's capacity
        assert shown == (f"{kept} shown (last {kept})" if received > kept else f"{kept} shown")
        if dropped:
            assert await page.is_visible("#notice-dropped")
        assert problems.items == []


async def test_a_burst_past_the_server_buffer_is_reported_as_dropped(open_page):
    async with MemorySynapse() as bus, watch(bus, NS, port=0, feed_items=500) as view:
        page, problems = await open_page(view.url)
        await page.wait_for_selector('#conn[data-state="live"]')
        await page.wait_for_function(
            "() => document.querySelector('#count-viewers').textContent === '1'"
        )
        # MemorySynapse.publish never yields: all 5,000 reach the 500-frame feed before
        # its writer runs, so exactly the 4,500 oldest are dropped.
        for i in range(2500):
            for signal in workflow_pair(i):
                await publish(bus, signal)
        await page.wait_for_function(COUNTS_ARE, arg=[500, 4500], timeout=DEADLINE_S * 1000)
        await page.wait_for_selector("#notice-dropped:not([hidden])")
        notice = await page.text_content("#notice-dropped")
        assert "4500 dropped because this page fell behind" in (notice or "")
        assert problems.items == []
