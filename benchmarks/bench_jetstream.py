"""Durable figures: dispatch_and_wait over ``nats+js://`` next to raw nats-py JetStream
publish + pull/ack measured in the same run, on the same nats-server (JetStream on, file
store), with the same frame.

    python benchmarks/bench_jetstream.py [--quick] [--seconds 2.0] [--sequential 2000]

The raw side: the caller publishes the frame to a work-queue stream (waiting for the
PubAck) and waits for an answer on a core subject; a responder on its own connection
fetches in batches, acknowledges each message and publishes the answer. The durable side
adds the Signal codec, the core copy of the TASK, the Dendrite, the held-TASK bookkeeping
(one keep-alive ticker, STOPs checked in memory) and reply dedup (docs/transports/nats.md,
"Durable work").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # for tests.nats_servers

import nats  # noqa: E402
from _peers import ECHO_INPUT, NAMESPACE  # noqa: E402
from _table import (  # noqa: E402
    Options,
    Row,
    compare,
    cpu_row,
    cpu_seconds,
    latency_rows,
    rate_rows,
    run_script,
)
from cosmonapse import Axon, Dendrite, builders, connect_synapse  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402
from nats.js import api  # noqa: E402

from tests.nats_servers import NatsServer  # noqa: E402

SECTION = "NATS JetStream (nats+js://)"
FRAME = builders.task_signal(input=ECHO_INPUT, neuron="echo").encode()
Op = Callable[[], Awaitable[object]]


@contextlib.asynccontextmanager
async def raw_durable(url: str) -> AsyncIterator[Op]:
    caller, responder = await nats.connect(url), await nats.connect(url)
    js, rjs = caller.jetstream(), responder.jetstream()
    await js.add_stream(
        api.StreamConfig(
            name="raw_tasks", subjects=["rawjs.task"], retention=api.RetentionPolicy.WORK_QUEUE
        )
    )
    psub = await rjs.pull_subscribe("rawjs.task", durable="raw", stream="raw_tasks")
    waiting: dict[str, asyncio.Future[None]] = {}

    async def answered(msg: Msg) -> None:
        future = waiting.pop(msg.data.decode(), None)
        if future is not None and not future.done():
            future.set_result(None)

    await caller.subscribe("rawjs.reply", cb=answered)

    async def serve() -> None:
        while True:
            try:
                msgs = await psub.fetch(64, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                await msg.ack()
                await responder.publish("rawjs.reply", (msg.headers or {})["Nats-Msg-Id"].encode())

    server = asyncio.ensure_future(serve())
    counter = itertools.count()

    async def op() -> None:
        key = str(next(counter))
        future = asyncio.get_running_loop().create_future()
        waiting[key] = future
        await js.publish("rawjs.task", FRAME, headers={"Nats-Msg-Id": key})
        await asyncio.wait_for(future, 30)

    try:
        yield op
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        await caller.close()
        await responder.close()


async def echo(input: dict[str, object], context: object) -> dict[str, object]:
    return dict(input)


@contextlib.asynccontextmanager
async def durable_dispatch(url: str) -> AsyncIterator[Op]:
    js_url = url.replace("nats://", "nats+js://")
    worker_bus, caller_bus = await connect_synapse(js_url), await connect_synapse(js_url)
    worker = Dendrite(synapse=worker_bus, namespace=NAMESPACE, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo))
    caller = Dendrite(synapse=caller_bus, namespace=NAMESPACE, heartbeat_s=0)
    async with worker, caller:

        async def op() -> None:
            await caller.dispatch_and_wait(neuron="echo", input=ECHO_INPUT, timeout_s=30)

        yield op
    await worker_bus.close()
    await caller_bus.close()


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    with NatsServer(jetstream=True) as server:
        async with raw_durable(server.url) as raw_op, durable_dispatch(server.url) as js_op:
            assert server.process is not None
            pid = server.process.pid
            figures = await compare(
                {"durable": js_op, "raw": raw_op}, opts, cpu_clock=lambda: cpu_seconds([pid])
            )
    dur, raw = figures["durable"], figures["raw"]
    versus = "raw js publish+pull/ack"
    return [
        *latency_rows("nats+js: dispatch_and_wait", versus, dur.samples, raw.samples, SECTION),
        *rate_rows("nats+js: round trips/s", versus, dur.rates, raw.rates, SECTION),
        cpu_row("nats+js: CPU per round trip, 64 in flight", versus, dur, raw, SECTION),
    ]


if __name__ == "__main__":
    sys.exit(
        run_script(
            f"NATS JetStream (one local nats-server, frame of {len(FRAME)} bytes)",
            main,
            __doc__.splitlines()[0],
        )
    )
