"""What the browser tests share: a recording of the bus, and waits on the page.

Every wait here is on a final state that earlier state cannot satisfy: the exact number
of Signals the page has taken in, the filter the list was drawn with (the page writes it
to ``#list[data-filter]`` in the same frame as the rows and the count), the trace the tree
was drawn for (``#trace-tree[data-trace]``). None of them sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from cosmonapse import Signal, SignalType
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

DEADLINE_S = 15.0  # hang guard only
MEMBERSHIP = {SignalType.REGISTER, SignalType.DEREGISTER, SignalType.HEARTBEAT}


class Recorder:
    """Every Signal on the namespace, decoded, in arrival order."""

    def __init__(self) -> None:
        self.signals: list[Signal] = []
        self._grew = asyncio.Event()

    async def __call__(self, subject: str, data: bytes) -> None:
        self.signals.append(Signal.decode(data))
        self._grew.set()

    def of_type(self, kind: SignalType) -> list[Signal]:
        return [s for s in self.signals if s.type is kind]

    def ids(self) -> set[str]:
        return {s.id for s in self.signals}

    async def until(self, done: Callable[[list[Signal]], bool], what: str) -> None:
        """Wait until ``done(signals)`` holds (checked on every new Signal)."""
        try:
            async with asyncio.timeout(DEADLINE_S):
                while not done(self.signals):
                    self._grew.clear()
                    await self._grew.wait()
        except TimeoutError:
            raise AssertionError(f"the bus never carried {what}") from None

    async def holding(self, ids: set[str]) -> int:
        """Wait until every Signal in ``ids`` was recorded; returns how many are recorded."""
        await self.until(lambda signals: ids <= {s.id for s in signals}, f"all of {sorted(ids)}")
        return len(self.signals)

    def traces_by_activity(self) -> list[str]:
        """Trace ids of everything but membership chatter, the one whose newest Signal
        arrived last first (the order the page lists traces in)."""
        last: dict[str, int] = {}
        for i, s in enumerate(self.signals):
            if s.type not in MEMBERSHIP:
                last[s.trace_id] = i
        return sorted(last, key=last.__getitem__, reverse=True)


async def text_of(page: Page, selector: str) -> str:
    return (await page.locator(selector).first.text_content()) or ""


async def wait_text(page: Page, selector: str, expected: str) -> None:
    try:
        await page.wait_for_function(
            "([sel, want]) => document.querySelector(sel)?.textContent === want",
            arg=[selector, expected],
        )
    except PlaywrightTimeoutError:
        shown = await page.evaluate("sel => document.querySelector(sel)?.textContent", selector)
        raise AssertionError(f"{selector} shows {shown!r}, never {expected!r}") from None


async def wait_received(page: Page, total: int) -> None:
    """Wait until the page has taken in exactly ``total`` Signals. The header is drawn
    after every other panel in the same frame, so from then on the panels show them all."""
    await wait_text(page, "#count-received", str(total))


async def visible_rows(page: Page) -> list[dict[str, str]]:
    return await page.eval_on_selector_all(
        "#list .row:not([hidden])",
        "rows => rows.map(r => ({id: r.dataset.id, type: r.dataset.type,"
        " summary: r.querySelector('.c-summary').textContent}))",
    )


LIST_SHOWS = """([key, count, ids]) => {
  const list = document.querySelector('#list');
  if (list.dataset.filter !== key) return false;
  if (document.querySelector('#list-count').textContent !== count) return false;
  if (ids === null) return true;
  const rows = Array.from(list.querySelectorAll('.row:not([hidden])'), (r) => r.dataset.id);
  return rows.length === ids.length && rows.every((id, i) => id === ids[i]);
}"""


async def filter_list(
    page: Page,
    *,
    total: int,
    expect: list[str] | None,
    type: str = "",
    trace: str = "",
    neuron: str = "",
    text: str = "",
) -> list[dict[str, str]]:
    """Set the filter form and wait until the list is drawn with exactly that filter,
    says how many of ``total`` match, and shows the Signals ``expect`` in that order
    (``expect=None``: no filter, all ``total`` shown). Rows left from an earlier filter
    cannot pass: the list's data-filter names the filter its rows were drawn with."""
    await page.select_option("#f-type", type)
    await page.fill("#f-trace", trace)
    await page.fill("#f-neuron", neuron)
    await page.fill("#f-text", text)
    key = json.dumps([type, trace, neuron, text], separators=(",", ":"))
    count = f"{total} shown" if expect is None else f"{len(expect)} of {total} match"
    try:
        await page.wait_for_function(LIST_SHOWS, arg=[key, count, expect])
    except PlaywrightTimeoutError:
        drawn = await page.get_attribute("#list", "data-filter")
        said = await text_of(page, "#list-count")
        rows = [r["id"] for r in await visible_rows(page)]
        raise AssertionError(
            f"filter {key}: wanted {count} {expect}; the list, drawn with {drawn}, "
            f"says {said!r} and shows {rows}"
        ) from None
    return await visible_rows(page)


async def wait_trace_shown(page: Page, trace_id: str, rows: int) -> None:
    """Wait until the trace tree is drawn for ``trace_id`` with ``rows`` rows."""
    try:
        await page.wait_for_function(
            """([id, n]) => {
              const tree = document.querySelector('#trace-tree');
              return tree.dataset.trace === id && tree.querySelectorAll('.trow').length === n &&
                document.querySelector('#trace-selected').textContent === id;
            }""",
            arg=[trace_id, rows],
        )
    except PlaywrightTimeoutError:
        drawn = await page.get_attribute("#trace-tree", "data-trace")
        n = await page.locator("#trace-tree .trow").count()
        raise AssertionError(
            f"wanted trace {trace_id} with {rows} rows; the tree shows {drawn} with {n}"
        ) from None


async def listed_traces(page: Page) -> list[str]:
    return await page.eval_on_selector_all(
        "#trace-list [data-trace]", "items => items.map(i => i.dataset.trace)"
    )
