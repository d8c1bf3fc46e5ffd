"""Queue-group figures: 1, 4 and 16 worker Dendrites sharing one queue group, round trips
per second at 64 in flight, on memory://, cosmo:// and nats://, each next to a raw
baseline with the same number of workers, measured in the same run.

    python benchmarks/bench_groups.py [--quick] [--no-nats]

Every worker hosts an echo Neuron with capability ``echo`` (ids ``echo-0``, ``echo-1``,
...), so all of them subscribe to the capability-routed TASK subject in the queue group
``caps:echo``; the caller sends ``dispatch_and_wait(capabilities=["echo"], ...)`` and each
TASK goes to one of them.

Each figure and its baseline are measured in alternation (see ``_table.compare``).

* memory:// next to a shared asyncio queue: N echo tasks take (request, future) pairs
  from one queue and resolve the future.
* cosmo:// next to the raw relay of ``bench_dev.py`` with N raw worker connections
  (round-robin); the server (or relay) and the N workers run in two child processes.
* nats:// next to raw nats-py request/reply with N responders in one queue group; the
  nats-server is its own process and the N workers run in one child process.

All N workers of a transport share one process and one event loop, so more workers do
not mean more CPU: these figures show what the queue-group routing costs, not a speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # for tests.nats_servers

import orjson  # noqa: E402
from _peers import ECHO_NEURON, NAMESPACE, peer  # noqa: E402
from _raw import RawCaller  # noqa: E402
from _table import Options, Row, compare, parse_options, run_script  # noqa: E402
from cosmonapse import (  # noqa: E402
    Axon,
    Dendrite,
    MemorySynapse,
    SignalType,
    Synapse,
    builders,
    connect_synapse,
)

SECTION = "queue groups, 64 in flight"
WORKERS = (1, 4, 16)
IN_FLIGHT = 64
INPUT = {"n": 1, "prompt": "the sun"}
FRAME = builders.task_signal(input=INPUT, capabilities=["echo"]).encode()
LINE = (
    b'{"op":"pub","subject":"cosmonapse.bench.TASK.routed","frame":'
    + orjson.dumps(FRAME.decode())
    + b"}\n"
)


Op = Callable[[], Awaitable[object]]


@contextlib.asynccontextmanager
async def dispatching(synapse: Synapse) -> AsyncIterator[Op]:
    """A caller Dendrite on ``synapse``; yields its capability-routed round trip."""
    caller = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0)

    async def op() -> None:
        reply = await caller.dispatch_and_wait(capabilities=["echo"], input=INPUT, timeout_s=10)
        assert reply.type is SignalType.AGENT_OUTPUT

    async with caller:
        yield op


@contextlib.asynccontextmanager
async def shared_queue(workers: int) -> AsyncIterator[Op]:
    requests: asyncio.Queue[tuple[bytes, asyncio.Future[bytes]]] = asyncio.Queue()

    async def echo() -> None:
        while True:
            data, fut = await requests.get()
            if not fut.done():
                fut.set_result(data)

    tasks = [asyncio.get_running_loop().create_task(echo()) for _ in range(workers)]

    async def op() -> None:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        requests.put_nowait((FRAME, fut))
        await asyncio.wait_for(fut, 10)

    try:
        yield op
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def memory_group(workers: int) -> AsyncIterator[Op]:
    bus = MemorySynapse()
    try:
        async with contextlib.AsyncExitStack() as stack:
            for i in range(workers):
                host = Dendrite(
                    synapse=bus,
                    namespace=NAMESPACE,
                    dendrite_id=f"w{i}",
                    role="worker",
                    heartbeat_s=0,
                )
                host.attach_axon(
                    Axon(neuron_id=f"echo-{i}", neuron_fn=ECHO_NEURON, capabilities=["echo"])
                )
                await stack.enter_async_context(host)
            yield await stack.enter_async_context(dispatching(bus))
    finally:
        await bus.close()


@contextlib.asynccontextmanager
async def relay_group(relay: str, workers: int) -> AsyncIterator[Op]:
    async with peer("raw-workers", relay, workers):
        caller = await RawCaller.open(relay, b"caller")
        try:
            yield lambda: caller.request(LINE)
        finally:
            await caller.aclose()


@contextlib.asynccontextmanager
async def remote_group(url: str, workers: int) -> AsyncIterator[Op]:
    async with peer("workers", url, workers, "caps"):
        bus = await connect_synapse(url)
        try:
            async with dispatching(bus) as op:
                yield op
        finally:
            await bus.close()


@contextlib.asynccontextmanager
async def nats_group(url: str, workers: int) -> AsyncIterator[Op]:
    import nats

    async with peer("nats-responders", url, workers):
        caller = await nats.connect(url)

        async def op() -> None:
            await caller.request("bench.echo", FRAME, timeout=10)

        try:
            yield op
        finally:
            await caller.close()


async def versus(
    figure: contextlib.AbstractAsyncContextManager[Op],
    baseline: contextlib.AbstractAsyncContextManager[Op],
    opts: Options,
) -> tuple[float, float]:
    """``(figure, baseline)`` round trips per second at 64 in flight, in alternation."""
    async with figure as op, baseline as raw_op:
        figures = await compare(
            {"figure": op, "raw": raw_op}, opts, sequential=False, in_flight=(IN_FLIGHT,)
        )
    return figures["figure"].rates[IN_FLIGHT], figures["raw"].rates[IN_FLIGHT]


def row(transport: str, versus: str, workers: int, value: float, raw: float) -> Row:
    return Row(
        f"{transport}: round trips/s, {workers} worker{'s' if workers > 1 else ''} (vs {versus})",
        value,
        "/s",
        raw,
        section=SECTION,
    )


async def main(opts: Options | None = None, with_nats: bool = True) -> list[Row]:
    opts = opts or Options()
    rows = []
    for n in WORKERS:
        value, raw = await versus(memory_group(n), shared_queue(n), opts)
        rows.append(row("memory", "shared queue", n, value, raw))
    async with peer("raw-relay") as relay, peer("dev-server") as url:
        for n in WORKERS:
            value, raw = await versus(remote_group(url, n), relay_group(relay, n), opts)
            rows.append(row("dev", "raw relay", n, value, raw))
    if with_nats:
        from tests.nats_servers import NatsServer

        with NatsServer() as server:
            for n in WORKERS:
                value, raw = await versus(
                    remote_group(server.url, n), nats_group(server.url, n), opts
                )
                rows.append(row("nats", "nats-py queue group", n, value, raw))
    return rows


if __name__ == "__main__":

    def no_nats(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--no-nats", action="store_true", help="skip the NATS rows")

    _, args = parse_options(__doc__.splitlines()[0], extra=no_nats)
    sys.exit(
        run_script(
            "queue groups",
            lambda opts: main(opts, with_nats=not args.no_nats),
            __doc__.splitlines()[0],
        )
    )
