"""Payload figures: the dispatch_and_wait round trip as the TASK input grows from 100 B to
1 MiB, on memory:// and cosmo://, next to raw baselines of the same size and run.

    python benchmarks/bench_payload.py [--quick]

The input is ``{"blob": "xxx..."}`` whose JSON is exactly the stated size; the echo
Neuron returns it, so the AGENT_OUTPUT carries it back. Each size gets its p50 round
trip, and each transport two slopes, µs per KiB from 10 KiB to 100 KiB and from 100 KiB
to 1 MiB: when cost grows linearly with size the two slopes agree.

* memory:// next to an orjson ping-pong: an asyncio queue pair where the caller encodes
  the input, the echo side decodes and re-encodes it, and the caller decodes the answer
  (the least a serialized round trip does; the SDK's codec is orjson too).
* cosmo:// next to the raw relay of ``bench_dev.py``, moving lines as long as the TASK's
  ``pub`` line, through the same processes (relay or server, and worker, in children).

The dev synapse refuses lines over 1 MiB by default, and a 1 MiB input makes a longer
line, so this script raises the limit to 4 MiB explicitly on the server
(``ServerLimits.max_line_bytes``) and on every client (``max_frame_bytes``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _peers import ECHO_NEURON, NAMESPACE, peer
from _raw import RawCaller
from _table import Options, Row, run_script
from cosmonapse import (
    Axon,
    Dendrite,
    MemorySynapse,
    SignalType,
    Synapse,
    builders,
    connect_synapse,
)

SECTION = "payload size"
KIB = 1024
SIZES = (100, KIB, 10 * KIB, 100 * KIB, 1024 * KIB)
LABELS = {100: "100 B", KIB: "1 KiB", 10 * KIB: "10 KiB", 100 * KIB: "100 KiB", 1024 * KIB: "1 MiB"}
REPEATS = {100: 400, KIB: 400, 10 * KIB: 200, 100 * KIB: 60, 1024 * KIB: 12}
MAX_LINE = 4 * 1_048_576


def payload(size: int) -> dict[str, Any]:
    """An input whose compact JSON is ``size`` bytes."""
    data = {"blob": "x" * (size - 11)}
    assert len(orjson.dumps(data)) == size
    return data


def pub_line(size: int) -> bytes:
    """The ``pub`` line the dev client sends for a TASK with that input."""
    frame = builders.task_signal(input=payload(size), neuron="echo").encode()
    return (
        b'{"op":"pub","subject":"cosmonapse.bench.TASK","frame":'
        + orjson.dumps(frame.decode())
        + b"}\n"
    )


async def p50(op: Callable[[], Awaitable[object]], repeats: int) -> float:
    """Median seconds of ``op`` over ``repeats`` sequential calls, after a few warm-ups."""
    for _ in range(max(2, repeats // 10)):
        await op()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await op()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def repeats(size: int, opts: Options) -> int:
    return max(3, REPEATS[size] // 8) if opts.quick else REPEATS[size]


async def orjson_ping_pong(size: int, opts: Options) -> float:
    requests: asyncio.Queue[bytes] = asyncio.Queue()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    async def echo() -> None:
        while True:
            replies.put_nowait(orjson.dumps(orjson.loads(await requests.get())))

    task = asyncio.get_running_loop().create_task(echo())
    data = payload(size)

    async def op() -> None:
        requests.put_nowait(orjson.dumps(data))
        orjson.loads(await replies.get())

    try:
        return await p50(op, repeats(size, opts))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def dispatch_p50(caller: Dendrite, size: int, opts: Options) -> float:
    data = payload(size)

    async def op() -> None:
        reply = await caller.dispatch_and_wait(neuron="echo", input=data, timeout_s=30)
        assert reply.type is SignalType.AGENT_OUTPUT

    return await p50(op, repeats(size, opts))


def caller_on(synapse: Synapse) -> Dendrite:
    return Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0)


def rows_for(
    transport: str, versus: str, values: dict[int, float], raw: dict[int, float]
) -> list[Row]:
    rows = [
        Row(
            f"{transport}: payload {LABELS[size]}, round trip p50 (vs {versus})",
            values[size] * 1e6,
            "µs",
            raw[size] * 1e6,
            higher_is_better=False,
            section=SECTION,
        )
        for size in SIZES
    ]
    for low, high in ((10 * KIB, 100 * KIB), (100 * KIB, 1024 * KIB)):
        kib = (high - low) / KIB

        def slope(
            figures: dict[int, float], low: int = low, high: int = high, kib: float = kib
        ) -> float:
            return max(figures[high] - figures[low], 1e-9) * 1e6 / kib

        rows.append(
            Row(
                f"{transport}: payload µs per KiB, {LABELS[low]} to {LABELS[high]} (vs {versus})",
                slope(values),
                "µs/KiB",
                slope(raw),
                higher_is_better=False,
                section=SECTION,
            )
        )
    return rows


async def memory_rows(opts: Options) -> list[Row]:
    raw = {size: await orjson_ping_pong(size, opts) for size in SIZES}
    bus = MemorySynapse()
    worker = Dendrite(
        synapse=bus, namespace=NAMESPACE, dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=ECHO_NEURON))
    try:
        async with worker, caller_on(bus) as caller:
            values = {size: await dispatch_p50(caller, size, opts) for size in SIZES}
    finally:
        await bus.close()
    return rows_for("memory", "orjson ping-pong", values, raw)


async def dev_rows(opts: Options) -> list[Row]:
    raw: dict[int, float] = {}
    async with peer("raw-relay") as relay, peer("raw-workers", relay, 1):
        client = await RawCaller.open(relay, b"caller")
        try:
            for size in SIZES:
                line = pub_line(size)

                async def op(line: bytes = line) -> None:
                    await client.request(line)

                raw[size] = await p50(op, repeats(size, opts))
        finally:
            await client.aclose()
    async with peer("dev-server", MAX_LINE) as url:
        url = f"{url}?max_frame_bytes={MAX_LINE}"
        async with peer("workers", url, 1, "neuron"):
            bus = await connect_synapse(url)
            try:
                async with caller_on(bus) as caller:
                    values = {size: await dispatch_p50(caller, size, opts) for size in SIZES}
            finally:
                await bus.close()
    return rows_for("dev", "raw relay", values, raw)


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    return [*await memory_rows(opts), *await dev_rows(opts)]


if __name__ == "__main__":
    sys.exit(run_script("payload size", main, __doc__.splitlines()[0]))
