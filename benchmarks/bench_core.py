"""Core figures: the codec, and dispatch_and_wait on the in-process MemorySynapse next to a
raw asyncio-queue ping-pong measured in the same run.

    python benchmarks/bench_core.py [--quick] [--seconds 1.0] [--sequential 2000]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import Options, Row, percentile, rate, run_script, timed_loop
from cosmonapse import Axon, Dendrite, MemorySynapse, Signal, SignalType, builders

CODEC = "codec (per Signal)"
MEMORY = "memory (in process)"


def codec_rows(opts: Options) -> list[Row]:
    task = builders.task_signal(
        input={"prompt": "the sun", "max_tokens": 128}, neuron="worker-a", meta={"attempt": 1}
    )
    data = task.encode()
    seconds = opts.seconds / 2
    encode = timed_loop(task.encode, seconds=seconds)
    decode = timed_loop(lambda: Signal.decode(data), seconds=seconds)
    both = timed_loop(lambda: Signal.decode(data).encode(), seconds=seconds)
    return [
        Row("codec: encode a TASK", encode * 1e6, "µs", higher_is_better=False, section=CODEC),
        Row(
            "codec: decode + validate a TASK",
            decode * 1e6,
            "µs",
            higher_is_better=False,
            section=CODEC,
        ),
        Row(
            "codec: decode + validate + encode a TASK",
            both * 1e6,
            "µs",
            higher_is_better=False,
            section=CODEC,
        ),
    ]


Pair = tuple["asyncio.Queue[int]", "asyncio.Queue[int]", "asyncio.Task[None]"]


async def raw_queue_pair() -> Pair:
    requests: asyncio.Queue[int] = asyncio.Queue()
    replies: asyncio.Queue[int] = asyncio.Queue()

    async def echo() -> None:
        while True:
            replies.put_nowait(await requests.get())

    return requests, replies, asyncio.get_running_loop().create_task(echo())


async def raw_baseline(opts: Options) -> tuple[list[float], dict[int, float]]:
    requests, replies, task = await raw_queue_pair()
    samples = []
    for i in range(opts.sequential):
        t0 = time.perf_counter()
        requests.put_nowait(i)
        await replies.get()
        samples.append(time.perf_counter() - t0)
    task.cancel()
    rates = {}
    for n in (1, 16, 64):
        # one echo task per in-flight caller, like one Neuron run per TASK: each call
        # borrows a free pair (there are as many pairs as callers)
        pairs = [await raw_queue_pair() for _ in range(n)]
        free = list(pairs)

        async def op(free: list[Pair] = free) -> None:
            pair = free.pop()
            pair[0].put_nowait(1)
            await pair[1].get()
            free.append(pair)

        rates[n] = await rate(op, in_flight=n, seconds=opts.seconds)
        for _, _, t in pairs:
            t.cancel()
    return samples, rates


async def dendrite_figures(opts: Options) -> tuple[list[float], dict[int, float]]:
    synapse = MemorySynapse()

    async def echo(input: dict, context: object) -> dict:  # type: ignore[type-arg]
        return input

    worker = Dendrite(
        synapse=synapse, namespace="bench", dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo))
    caller = Dendrite(synapse=synapse, namespace="bench", dendrite_id="c", heartbeat_s=0)
    async with worker, caller:
        for _ in range(opts.warm_up):
            await caller.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=5)
        samples = []
        for i in range(opts.sequential):
            t0 = time.perf_counter()
            reply = await caller.dispatch_and_wait(neuron="echo", input={"n": i}, timeout_s=5)
            samples.append(time.perf_counter() - t0)
            assert reply.type is SignalType.AGENT_OUTPUT
        rates = {}
        for n in (1, 16, 64):

            async def op() -> None:
                await caller.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=10)

            rates[n] = await rate(op, in_flight=n, seconds=opts.seconds)
    await synapse.close()
    return samples, rates


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    rows = codec_rows(opts)
    raw_samples, raw_rates = await raw_baseline(opts)
    samples, rates = await dendrite_figures(opts)
    for pct in (50, 99):
        rows.append(
            Row(
                f"memory: dispatch_and_wait p{pct} (vs queue ping-pong)",
                percentile(samples, pct) * 1e6,
                "µs",
                percentile(raw_samples, pct) * 1e6,
                higher_is_better=False,
                section=MEMORY,
            )
        )
    for n in (1, 16, 64):
        rows.append(
            Row(
                f"memory: round trips/s, {n} in flight (vs queue ping-pong)",
                rates[n],
                "/s",
                raw_rates[n],
                section=MEMORY,
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(run_script("core (in process)", main, __doc__.splitlines()[0]))
