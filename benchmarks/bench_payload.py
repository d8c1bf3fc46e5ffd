"""Payload figures: the dispatch_and_wait round trip as the TASK input grows from 100 B to
1 MiB, on memory:// and cosmo://, next to raw baselines of the same size and run.

    python benchmarks/bench_payload.py [--quick]

The input is ``{"blob": "xxx..."}`` whose JSON is exactly the stated size; the echo
Neuron returns it, so the AGENT_OUTPUT carries it back. Each size gets its p50 round
trip, and each transport two slopes, µs per KiB from 10 KiB to 100 KiB and from 100 KiB
to 1 MiB: when cost grows linearly with size the two slopes agree.

Each figure and its baseline are measured in alternation (see ``_table.compare``).

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
import contextlib
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _peers import ECHO_NEURON, NAMESPACE, peer
from _raw import RawCaller
from _table import Options, Row, compare, run_script
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


Op = Callable[[], Awaitable[object]]
OpFor = Callable[[int], Op]


def repeats(size: int, opts: Options) -> int:
    return max(4, REPEATS[size] // 8) if opts.quick else REPEATS[size]


async def medians(figure: OpFor, baseline: OpFor, opts: Options) -> tuple[dict[int, float], ...]:
    """Median round trip in seconds for each size, ``(figure, baseline)``, the two
    measured in alternation."""
    values: dict[int, float] = {}
    raw: dict[int, float] = {}
    for size in SIZES:
        n = repeats(size, opts)
        figures = await compare(
            {"figure": figure(size), "raw": baseline(size)},
            Options(opts.quick, opts.seconds, n),
            in_flight=(),
            warm_up=max(2, n // 10),
        )
        values[size] = statistics.median(figures["figure"].samples)
        raw[size] = statistics.median(figures["raw"].samples)
    return values, raw


def orjson_ping_pong(requests: asyncio.Queue[bytes], replies: asyncio.Queue[bytes]) -> OpFor:
    def op_for(size: int) -> Op:
        data = payload(size)

        async def op() -> None:
            requests.put_nowait(orjson.dumps(data))
            orjson.loads(await replies.get())

        return op

    return op_for


def dispatching(caller: Dendrite) -> OpFor:
    def op_for(size: int) -> Op:
        data = payload(size)

        async def op() -> None:
            reply = await caller.dispatch_and_wait(neuron="echo", input=data, timeout_s=30)
            assert reply.type is SignalType.AGENT_OUTPUT

        return op

    return op_for


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
    requests: asyncio.Queue[bytes] = asyncio.Queue()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    async def echo() -> None:
        while True:
            replies.put_nowait(orjson.dumps(orjson.loads(await requests.get())))

    task = asyncio.get_running_loop().create_task(echo())
    bus = MemorySynapse()
    worker = Dendrite(
        synapse=bus, namespace=NAMESPACE, dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=ECHO_NEURON))
    try:
        async with worker, caller_on(bus) as caller:
            values, raw = await medians(
                dispatching(caller), orjson_ping_pong(requests, replies), opts
            )
    finally:
        await bus.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return rows_for("memory", "orjson ping-pong", values, raw)


async def dev_rows(opts: Options) -> list[Row]:
    async with contextlib.AsyncExitStack() as stack:
        enter = stack.enter_async_context
        relay = await enter(peer("raw-relay"))
        await enter(peer("raw-workers", relay, 1))
        client = await RawCaller.open(relay, b"caller")
        stack.push_async_callback(client.aclose)
        url = await enter(peer("dev-server", MAX_LINE))
        url = f"{url}?max_frame_bytes={MAX_LINE}"
        await enter(peer("workers", url, 1, "neuron"))
        bus = await connect_synapse(url)
        stack.push_async_callback(bus.close)
        caller = await enter(caller_on(bus))

        def relaying(size: int) -> Op:
            line = pub_line(size)
            return lambda: client.request(line)

        values, raw = await medians(dispatching(caller), relaying, opts)
    return rows_for("dev", "raw relay", values, raw)


async def main(opts: Options | None = None) -> list[Row]:
    opts = opts or Options()
    return [*await memory_rows(opts), *await dev_rows(opts)]


if __name__ == "__main__":
    sys.exit(run_script("payload size", main, __doc__.splitlines()[0]))
