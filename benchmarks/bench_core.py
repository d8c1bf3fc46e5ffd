"""Core figures: the codec, and dispatch_and_wait on the in-process MemorySynapse next to a
raw asyncio-queue ping-pong measured in the same run, in alternation (see
``_table.compare``).

    python benchmarks/bench_core.py [--quick] [--seconds 2.0] [--sequential 2000]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import (
    IN_FLIGHT,
    Options,
    Row,
    compare,
    cpu_row,
    latency_rows,
    rate_rows,
    run_script,
    timed_loop,
)
from cosmonapse import Axon, Dendrite, MemorySynapse, Signal, SignalType, builders

CODEC = "codec (per Signal)"
MEMORY = "memory (in process)"


def codec_rows(opts: Options) -> list[Row]:
    """The Signal codec next to bare orjson on the same TASK (its dict and its bytes):
    what the envelope's building and validation add to the JSON work itself."""
    task = builders.task_signal(
        input={"prompt": "the sun", "max_tokens": 128}, neuron="worker-a", meta={"attempt": 1}
    )
    data = task.encode()
    as_dict = orjson.loads(data)
    seconds = opts.seconds / 4
    figures = {
        "encode": (
            timed_loop(task.encode, seconds=seconds),
            timed_loop(lambda: orjson.dumps(as_dict), seconds=seconds),
        ),
        "decode": (
            timed_loop(lambda: Signal.decode(data), seconds=seconds),
            timed_loop(lambda: orjson.loads(data), seconds=seconds),
        ),
    }
    return [
        Row(
            f"codec: {label} a TASK (vs orjson)",
            figures[key][0] * 1e6,
            "µs",
            figures[key][1] * 1e6,
            higher_is_better=False,
            section=CODEC,
        )
        for key, label in (("encode", "encode"), ("decode", "decode + validate"))
    ]


Pair = tuple["asyncio.Queue[int]", "asyncio.Queue[int]", "asyncio.Task[None]"]
MAX_IN_FLIGHT = max(IN_FLIGHT)


def raw_queue_pair() -> Pair:
    requests: asyncio.Queue[int] = asyncio.Queue()
    replies: asyncio.Queue[int] = asyncio.Queue()

    async def echo() -> None:
        while True:
            replies.put_nowait(await requests.get())

    return requests, replies, asyncio.get_running_loop().create_task(echo())


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    rows = codec_rows(opts)

    # The raw side: one echo task per in-flight caller, like one Neuron run per TASK;
    # each call borrows a free pair (there are as many pairs as callers at most).
    pairs = [raw_queue_pair() for _ in range(MAX_IN_FLIGHT)]
    free = list(pairs)

    async def raw_op() -> None:
        pair = free.pop()
        pair[0].put_nowait(1)
        await pair[1].get()
        free.append(pair)

    synapse = MemorySynapse()

    async def echo(input: dict, context: object) -> dict:  # type: ignore[type-arg]
        return input

    worker = Dendrite(
        synapse=synapse, namespace="bench", dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo))
    caller = Dendrite(synapse=synapse, namespace="bench", dendrite_id="c", heartbeat_s=0)

    async def dispatch_op() -> None:
        reply = await caller.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=10)
        assert reply.type is SignalType.AGENT_OUTPUT

    try:
        async with worker, caller:
            figures = await compare({"dispatch": dispatch_op, "raw": raw_op}, opts)
    finally:
        await synapse.close()
        for _, _, task in pairs:
            task.cancel()
        await asyncio.gather(*(task for _, _, task in pairs), return_exceptions=True)
    dev, raw = figures["dispatch"], figures["raw"]
    return [
        *rows,
        *latency_rows(
            "memory: dispatch_and_wait", "queue ping-pong", dev.samples, raw.samples, MEMORY
        ),
        *rate_rows("memory: round trips/s", "queue ping-pong", dev.rates, raw.rates, MEMORY),
        cpu_row("memory: CPU per round trip, 64 in flight", "queue ping-pong", dev, raw, MEMORY),
    ]


if __name__ == "__main__":
    sys.exit(run_script("core (in process)", main, __doc__.splitlines()[0]))
