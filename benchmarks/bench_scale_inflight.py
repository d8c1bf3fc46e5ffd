"""Scale: 1 to 100,000 traces in flight on memory://, memory per in-flight trace and p99
latency, each level next to a raw asyncio program holding as many requests in flight.

    python benchmarks/bench_scale_inflight.py [--quick] [--max-in-flight 100000]

For each level N (1, 10, 100, ... up to ``--max-in-flight``; 1,000 with ``--quick``):

* **memory per in-flight trace.** N ``dispatch_and_wait`` calls, each in its own task,
  to a Neuron that waits on a gate, so all N traces are in flight at once (their TASKs
  delivered, N Neuron runs waiting). The figure is the Python heap that holding them
  takes, from ``tracemalloc`` (traced bytes once all N are held, less the traced bytes
  before the first call), divided by N: the caller's task and wait, the TASK and its
  trace records on both Dendrites, the worker's Neuron run. The raw side holds N
  requests the least an asyncio program can: a caller task awaiting a future per
  request, a queue to a server task, and one task per request there waiting on the
  same kind of gate (one task per request, like one Neuron run per TASK).
* **round-trip p99 and rate.** N callers in a closed loop (each starts its next round
  trip when its last one ends), an echo Neuron, at least two round trips per caller
  and about ``20,000`` (``2,000`` quick) in all; the p99 of every round trip's time and
  the round trips per second. The callers are created first and released together, so
  the loop starts with N round trips in flight; ``mean in flight`` is how many were in
  flight on average over the run (Little's law: the summed round-trip times over the
  elapsed time), below N as the last callers finish. The raw side is the same loop over
  the raw program above with the server's task answering at once. With N in flight a
  round trip waits behind the others, so past saturation p99 grows with N over the rate.

The worker Dendrite is given ``max_concurrency=N`` and ``max_queued=N`` and the
MemorySynapse ``max_pending=2N`` (at least the defaults), what a deployment holding N
traces at once would configure, so that the burst of N TASKs at the start stays within
those bounds; callers are created in batches of 1,000 per event-loop turn. Every wait
has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import ECHO_INPUT, NAMESPACE
from _table import Options, Row, parse_options, percentile, print_table, write_rows
from cosmonapse import Axon, Dendrite, MemorySynapse
from cosmonapse.synapses.base import DEFAULT_MAX_PENDING

SECTION = "scale: traces in flight (memory://)"
X_LABEL = "traces in flight"
BATCH = 1_000  # callers started per event-loop turn
DEADLINE_S = 300.0

Call = Callable[[], Awaitable[object]]


def levels(top: int) -> list[int]:
    out, n = [], 1
    while n <= top:
        out.append(n)
        n *= 10
    return out


async def _wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not reached after {DEADLINE_S:g} s")
        await asyncio.sleep(0.001)


async def _start(n: int, call: Call) -> list[asyncio.Task[object]]:
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[object]] = []
    for start in range(0, n, BATCH):
        tasks.extend(loop.create_task(call()) for _ in range(min(BATCH, n - start)))  # type: ignore[arg-type]
        await asyncio.sleep(0)
    return tasks


async def _finish(tasks: list[asyncio.Task[object]]) -> None:
    done, pending = await asyncio.wait(tasks, timeout=DEADLINE_S)
    for task in pending:
        task.cancel()
    if pending:
        raise RuntimeError(f"{len(pending)} round trips still pending after {DEADLINE_S:g} s")
    for task in done:
        task.result()


class Gate:
    """Neuron runs (or raw server tasks) wait here; ``held`` counts those waiting."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.held = 0

    async def wait(self) -> None:
        self.held += 1
        await self.event.wait()


class Raw:
    """The raw program: callers put ``(future, payload)`` on a queue; one server task
    spawns a task per request, which (optionally behind ``gate``) sets the future."""

    def __init__(self, gate: Gate | None) -> None:
        self.queue: asyncio.Queue[tuple[asyncio.Future[Any], dict[str, Any]]] = asyncio.Queue()
        self.gate = gate
        self.server = asyncio.get_running_loop().create_task(self._serve())
        self.runs: set[asyncio.Task[None]] = set()

    async def _answer(self, fut: asyncio.Future[Any], payload: dict[str, Any]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if not fut.done():
            fut.set_result(payload)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            fut, payload = await self.queue.get()
            run = loop.create_task(self._answer(fut, payload))
            self.runs.add(run)
            run.add_done_callback(self.runs.discard)

    async def call(self) -> object:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((fut, ECHO_INPUT))
        return await asyncio.wait_for(fut, DEADLINE_S)

    async def aclose(self) -> None:
        self.server.cancel()
        for run in list(self.runs):
            run.cancel()
        await asyncio.gather(self.server, *self.runs, return_exceptions=True)


class Bus:
    """A MemorySynapse with a caller Dendrite and a worker Dendrite sized for ``n``."""

    def __init__(self, n: int, gate: Gate | None) -> None:
        self.synapse = MemorySynapse(max_pending=max(DEFAULT_MAX_PENDING, 2 * n))
        self.worker = Dendrite(
            synapse=self.synapse,
            namespace=NAMESPACE,
            dendrite_id="w",
            role="worker",
            heartbeat_s=0,
            max_concurrency=max(256, n),
            max_queued=max(10_000, n),
        )

        async def neuron(input: dict[str, Any], context: object) -> dict[str, Any]:
            if gate is not None:
                await gate.wait()
            return input

        self.worker.attach_axon(Axon(neuron_id="echo", neuron_fn=neuron))
        self.caller = Dendrite(
            synapse=self.synapse, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0
        )

    async def __aenter__(self) -> Bus:
        await self.worker.__aenter__()
        await self.caller.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.caller.__aexit__(None, None, None)
        await self.worker.__aexit__(None, None, None)
        await self.synapse.close()

    async def call(self) -> object:
        reply = await self.caller.dispatch_and_wait(
            neuron="echo", input=ECHO_INPUT, timeout_s=DEADLINE_S
        )
        assert reply.type.value == "AGENT_OUTPUT", reply
        return reply


async def _held_bytes(n: int, call: Call, gate: Gate) -> float:
    """Traced heap bytes per request while ``n`` requests wait at ``gate``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tasks = await _start(n, call)
        await _wait_until(lambda: gate.held >= n, f"{n} requests held")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    gate.event.set()
    await _finish(tasks)
    return held / n


async def memory_per_trace(n: int) -> tuple[float, float]:
    """``(dispatch_and_wait, raw)`` bytes per in-flight request at ``n`` in flight."""
    gate = Gate()
    async with Bus(n, gate) as bus:
        ours = await _held_bytes(n, bus.call, gate)
    gate = Gate()
    raw = Raw(gate)
    try:
        theirs = await _held_bytes(n, raw.call, gate)
    finally:
        await raw.aclose()
    return ours, theirs


class Loop:
    """What one closed loop measured: every round trip's time (seconds), the rate, and
    the mean number of round trips in flight over the run (Little's law: the summed
    round-trip times over the elapsed time)."""

    def __init__(self, samples: list[float], elapsed: float) -> None:
        self.samples = samples
        self.rate = len(samples) / elapsed
        self.mean_in_flight = sum(samples) / elapsed


async def closed_loop(n: int, call: Call, total: int) -> Loop:
    """``n`` callers in a closed loop, all released at once once they exist."""
    rounds = max(2, -(-total // n))
    samples: list[float] = []
    go = asyncio.Event()

    async def caller() -> None:
        await go.wait()
        clock = time.perf_counter
        for _ in range(rounds):
            t0 = clock()
            await call()
            samples.append(clock() - t0)

    for _ in range(min(200, total)):  # warm-up
        await call()
    tasks = await _start(n, caller)  # type: ignore[arg-type]
    started = time.perf_counter()
    go.set()
    await _finish(tasks)
    return Loop(samples, time.perf_counter() - started)


async def latency(n: int, total: int) -> tuple[Loop, Loop]:
    async with Bus(n, None) as bus:
        ours = await closed_loop(n, bus.call, total)
    raw = Raw(None)
    try:
        theirs = await closed_loop(n, raw.call, total)
    finally:
        await raw.aclose()
    return ours, theirs


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-in-flight", type=int, help="highest level (default 100,000; 1,000 quick)"
    )


async def main(opts: Options | None = None, args: argparse.Namespace | None = None) -> list[Row]:
    opts = opts or Options()
    if args is None:
        _, args = parse_options("", [], options)
    top = args.max_in_flight or opts.count(100_000, 1_000)
    total = opts.count(20_000, 2_000)
    rows: list[Row] = []
    for n in levels(top):
        began = time.perf_counter()
        ours_b, raw_b = await memory_per_trace(n)
        ours, raw = await latency(n, total)
        ours_s, raw_s = ours.samples, raw.samples
        print(
            f"{n:>7,} in flight: {ours_b / 1024:7.2f} KiB/trace (raw {raw_b / 1024:.2f}), "
            f"p99 {percentile(ours_s, 99) * 1e3:9.2f} ms (raw {percentile(raw_s, 99) * 1e3:.2f}), "
            f"{ours.rate:8,.0f}/s (raw {raw.rate:,.0f}), mean in flight "
            f"{ours.mean_in_flight:,.0f} (raw {raw.mean_in_flight:,.0f}), "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )
        point: dict[str, Any] = {
            "section": SECTION,
            "x": n,
            "x_label": X_LABEL,
            "series": "cosmonapse memory:// dispatch_and_wait",
            "baseline_series": "raw asyncio (queue, future, task per request)",
        }
        rows += [
            Row(
                f"scale: memory per in-flight trace, {n:,} in flight (vs raw asyncio)",
                ours_b / 1024,
                "KiB",
                raw_b / 1024,
                higher_is_better=False,
                curve="memory per in-flight trace (tracemalloc)",
                **point,
            ),
            Row(
                f"scale: round trip p99, {n:,} in flight (vs raw asyncio)",
                percentile(ours_s, 99) * 1e3,
                "ms",
                percentile(raw_s, 99) * 1e3,
                higher_is_better=False,
                curve="round-trip p99 by traces in flight",
                **point,
            ),
            Row(
                f"scale: round trips/s, {n:,} in flight (vs raw asyncio)",
                ours.rate,
                "/s",
                raw.rate,
                curve="round trips per second by traces in flight",
                **point,
            ),
            Row(
                f"scale: mean in flight (Little's law), {n:,} callers (vs raw asyncio)",
                ours.mean_in_flight,
                "",
                raw.mean_in_flight,
                curve="mean round trips in flight by callers (Little's law)",
                **point,
            ),
        ]
    return rows


if __name__ == "__main__":
    from _table import machine

    opts, args = parse_options(__doc__.splitlines()[0], extra=options)
    print(f"machine: {machine()}", flush=True)
    table = asyncio.run(main(opts, args))
    print_table("traces in flight (memory://)", table)
    if opts.json_path:
        write_rows(opts.json_path, table)
