"""Instructions per in-process round trip, counted by valgrind: a figure that does not move
with the machine's load, for judging a change to the hot path.

    python benchmarks/instructions.py [--in-flight 64] [--small 640] [--large 3200]
    nox -s instructions

Each contender runs in a child Python under ``valgrind --tool=callgrind`` twice, once
doing ``--small`` round trips and once ``--large``; the difference of the two totals,
divided by the difference in round trips, is what one round trip costs with start-up,
imports and warm-up cancelled out. The contenders are the ones of ``bench_core.py``:
``dispatch_and_wait`` to an echo Neuron on a MemorySynapse (caller and worker Dendrites
in one event loop), and the raw asyncio-queue ping-pong, ``--in-flight`` at a time. The
ratio (raw / ours, as everywhere in docs/benchmarks.md) is the same on any machine
running the same CPython build; it takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = str(Path(__file__).resolve())
_COLLECTED = re.compile(rb"Collected : (\d+)")


async def _dendrite_round_trips(total: int, in_flight: int) -> None:
    from cosmonapse import Axon, Dendrite, MemorySynapse

    async def echo(input: dict, context: object) -> dict:  # type: ignore[type-arg]
        return input

    synapse = MemorySynapse()
    worker = Dendrite(
        synapse=synapse, namespace="bench", dendrite_id="w", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo))
    caller = Dendrite(synapse=synapse, namespace="bench", dendrite_id="c", heartbeat_s=0)
    async with worker, caller:

        async def one(count: int) -> None:
            for _ in range(count):
                await caller.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=10)

        await asyncio.gather(*(one(total // in_flight) for _ in range(in_flight)))
    await synapse.close()


async def _raw_round_trips(total: int, in_flight: int) -> None:
    async def pair(count: int) -> None:
        requests: asyncio.Queue[int] = asyncio.Queue()
        replies: asyncio.Queue[int] = asyncio.Queue()

        async def echo() -> None:
            while True:
                replies.put_nowait(await requests.get())

        task = asyncio.get_running_loop().create_task(echo())
        for _ in range(count):
            requests.put_nowait(1)
            await replies.get()
        task.cancel()

    await asyncio.gather(*(pair(total // in_flight) for _ in range(in_flight)))


CONTENDERS = {"dispatch_and_wait": _dendrite_round_trips, "raw queue": _raw_round_trips}


def _count(contender: str, total: int, in_flight: int) -> int:
    """Instructions of one child doing ``total`` round trips of ``contender``."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        SCRIPT,
        "--child",
        contender,
        str(total),
        str(in_flight),
    ]
    done = subprocess.run(command, capture_output=True, timeout=600, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = done.stderr.decode(errors="replace")[-600:]
        raise SystemExit(f"valgrind run of {contender!r} failed ({done.returncode}): {tail}")
    return int(found.group(1))


def per_round_trip(contender: str, small: int, large: int, in_flight: int) -> float:
    return (_count(contender, large, in_flight) - _count(contender, small, in_flight)) / (
        large - small
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--small", type=int, default=640, help="round trips of the short run")
    parser.add_argument("--large", type=int, default=3200, help="round trips of the long run")
    parser.add_argument("--child", nargs=3, metavar=("CONTENDER", "TOTAL", "IN_FLIGHT"))
    args = parser.parse_args()
    if args.child:
        contender, total, in_flight = args.child
        asyncio.run(CONTENDERS[contender](int(total), int(in_flight)))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    if not 0 < args.small < args.large or args.in_flight < 1:
        parser.error("need 0 < --small < --large and --in-flight >= 1")
    figures = {
        name: per_round_trip(name, args.small, args.large, args.in_flight) for name in CONTENDERS
    }
    ours, raw = figures["dispatch_and_wait"], figures["raw queue"]
    version = sys.version.split()[0]
    print(f"instructions per round trip, {args.in_flight} in flight (CPython {version})")
    print(f"  memory: dispatch_and_wait  {ours:>10,.0f}")
    print(f"  raw asyncio queue          {raw:>10,.0f}")
    print(f"  ratio (raw / ours)         {raw / ours:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
