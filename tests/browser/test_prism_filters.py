"""Filters on a page that draws late, as on a loaded machine (each of its animation
frames comes 150 ms after it was asked for): one filter after another, each matching as
many Signals as the one before, some typed a key at a time. After each, the list shows
exactly the Signals that match it, and the wait for that cannot be fooled by the rows
of the filter before, which are just as many and still on screen for a while."""

from __future__ import annotations

import pytest
from cosmonapse import Directed, MemorySynapse, Signal, SignalType
from cosmonapse.subjects import namespace_wildcard, signal_subject
from cosmonapse_prism import watch

from tests.browser.helpers import Recorder, filter_list, wait_received

pytestmark = pytest.mark.browser

NS = "prism-filters"
LATE_FRAMES = """(() => {
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) => setTimeout(() => raf(cb), 150);
})();"""


def three_rounds() -> list[Signal]:
    out = []
    for i in range(3):
        task = Signal(
            type=SignalType.TASK,
            payload={"input": {"ticket": f"t-{i}"}},
            directed=Directed("alpha"),
        )
        fail = task.reply(
            SignalType.ERROR,
            {"code": "NOPE", "message": f"beta says no to t-{i}"},
            directed=Directed("beta"),
        )
        done = Signal(
            type=SignalType.AGENT_OUTPUT,
            payload={"output": {"ticket": f"t-{i}", "by": "gamma"}},
            directed=Directed("gamma"),
        )
        out += [task, fail, done]
    return out


async def test_each_filter_is_waited_for_by_what_it_shows(open_page):
    recorder = Recorder()
    async with MemorySynapse() as bus, watch(bus, NS, port=0) as view:
        await bus.subscribe(namespace_wildcard(NS), recorder)
        signals = three_rounds()
        for sig in signals:
            await bus.publish(signal_subject(NS, sig.type.value), sig.encode())
        total = await recorder.holding({s.id for s in signals})
        page, problems = await open_page(view.url, init_script=LATE_FRAMES)
        await wait_received(page, total)

        def ids(kind: SignalType) -> list[str]:
            return [s.id for s in signals if s.type is kind]

        await filter_list(page, total=total, expect=ids(SignalType.TASK), type="TASK")
        await filter_list(page, total=total, expect=ids(SignalType.ERROR), type="ERROR")
        await filter_list(page, total=total, expect=ids(SignalType.AGENT_OUTPUT), neuron="gamma")
        await filter_list(page, total=total, expect=ids(SignalType.TASK), neuron="alpha")
        await filter_list(page, total=total, expect=ids(SignalType.ERROR), text="beta says")
        for ticket in ("t-0", "t-1", "t-2"):  # only the last field changes, to as many rows
            ticketed = [s.id for s in signals if ticket in s.encode().decode()]
            await filter_list(page, total=total, expect=ticketed, text=ticket)
        one = signals[3]  # the second round's TASK: its trace holds it and its ERROR
        await filter_list(page, total=total, expect=[one.id, signals[4].id], trace=one.trace_id)
        await filter_list(page, total=total, expect=None)

        # typed a key at a time: every keystroke applies a filter of its own
        await page.locator("#f-text").press_sequentially('"t-2"')
        matching = [s.id for s in signals if '"t-2"' in s.encode().decode()]
        assert len(matching) == 2  # the TASK and the AGENT_OUTPUT (the ERROR says t-2 unquoted)
        await filter_list(page, total=total, expect=matching, text='"t-2"')
        assert problems.items == []
