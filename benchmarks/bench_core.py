"""Core figures: the codec, and dispatch_and_wait on the in-process MemorySynapse next to a
raw asyncio-queue ping-pong measured in the same run.

    python benchmarks/bench_core.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import Row, machine, percentile, print_table, rate, timed_loop  # noqa: E402

from cosmonapse import Axon, Dendrite, MemorySynapse, Signal, SignalType, builders  # noqa: E402

SEQUENTIAL = 3000


def codec_rows() -> list[Row]:
    task = builders.task_signal(input={"prompt": "the sun", "max_tokens": 128},
                                neuron="worker-a", meta={"attempt": 1})
    data = task.encode()
    encode = timed_loop(task.encode)
    decode = timed_loop(lambda: Signal.decode(data))
    both = timed_loop(lambda: Signal.decode(data).encode())
    return [
        Row("codec: encode a TASK", encode * 1e6, "µs", higher_is_better=False),
        Row("codec: decode + validate a TASK", decode * 1e6, "µs", higher_is_better=False),
        Row("codec: decode + validate + encode a TASK", both * 1e6, "µs", higher_is_better=False),
    ]


async def raw_queue_pair() -> tuple[asyncio.Queue[int], asyncio.Queue[int], asyncio.Task[None]]:
    requests: asyncio.Queue[int] = asyncio.Queue()
    replies: asyncio.Queue[int] = asyncio.Queue()

    async def echo() -> None:
        while True:
            replies.put_nowait(await requests.get())

    return requests, replies, asyncio.get_running_loop().create_task(echo())


async def raw_baseline() -> tuple[list[float], dict[int, float]]:
    requests, replies, task = await raw_queue_pair()
    samples = []
    for i in range(SEQUENTIAL):
        t0 = time.perf_counter()
        requests.put_nowait(i)
        await replies.get()
        samples.append(time.perf_counter() - t0)
    task.cancel()
    rates = {}
    for n in (1, 16, 64):
        # one echo task per in-flight caller, like one Neuron run per TASK
        pairs = [await raw_queue_pair() for _ in range(n)]
        it = iter(range(n))
        slot = {id(asyncio.current_task()): 0}

        async def op(pairs: list = pairs) -> None:  # type: ignore[type-arg]
            me = asyncio.current_task()
            key = id(me)
            if key not in slot:
                slot[key] = next(it)
            req, rep, _ = pairs[slot[key]]
            req.put_nowait(1)
            await rep.get()

        rates[n] = await rate(op, in_flight=n)
        for _, _, t in pairs:
            t.cancel()
    return samples, rates


async def dendrite_figures() -> tuple[list[float], dict[int, float]]:
    synapse = MemorySynapse()

    async def echo(input: dict, context: object) -> dict:  # type: ignore[type-arg]
        return input

    worker = Dendrite(synapse=synapse, namespace="bench", dendrite_id="w", role="worker",
                      heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo))
    caller = Dendrite(synapse=synapse, namespace="bench", dendrite_id="c", heartbeat_s=0)
    async with worker, caller:
        for _ in range(200):
            await caller.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=5)
        samples = []
        for i in range(SEQUENTIAL):
            t0 = time.perf_counter()
            reply = await caller.dispatch_and_wait(neuron="echo", input={"n": i}, timeout_s=5)
            samples.append(time.perf_counter() - t0)
            assert reply.type is SignalType.AGENT_OUTPUT
        rates = {}
        for n in (1, 16, 64):
            async def op() -> None:
                await caller.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=10)

            rates[n] = await rate(op, in_flight=n)
    await synapse.close()
    return samples, rates


async def main() -> list[Row]:
    rows = codec_rows()
    raw_samples, raw_rates = await raw_baseline()
    samples, rates = await dendrite_figures()
    for pct in (50, 99):
        rows.append(Row(f"memory: dispatch_and_wait p{pct} (vs queue ping-pong)",
                        percentile(samples, pct) * 1e6, "µs",
                        percentile(raw_samples, pct) * 1e6, higher_is_better=False))
    for n in (1, 16, 64):
        rows.append(Row(f"memory: round trips/s, {n} in flight", rates[n], "/s", raw_rates[n]))
    return rows


if __name__ == "__main__":
    print(f"machine: {machine()}")
    rows = asyncio.run(main())
    print_table("core (in process)", rows)
