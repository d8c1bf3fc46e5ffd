"""Dev synapse figures: dispatch_and_wait over cosmo:// next to raw asyncio TCP baselines
measured in the same run, with the same processes.

    python benchmarks/bench_dev.py [--quick] [--seconds 1.0] [--sequential 2000] [--inproc]

Placement: as deployed, the dev synapse server, the worker and the caller are three
processes. The server (``cosmo synapse start memory``'s DevSynapseServer on a free
loopback port) and the worker Dendrite each run in a child process; the caller Dendrite
runs here. ``--inproc`` puts all three in this one event loop instead.

Three baselines, each in the same placement as the figure it sits next to:

* **raw echo** (the issue's baseline): a raw asyncio-streams client sends NDJSON lines the
  size of a TASK ``pub`` line to a raw asyncio echo server in a child process. Two TCP
  hops per round trip, where dispatch_and_wait takes four: keep that in mind when reading
  its ratio.
* **raw relay** (the same hops): the raw client sends the same line to a raw relay server
  (child process), which forwards it to a raw worker connection (another child process)
  that sends it back through the relay: caller -> server -> worker -> server -> caller,
  as a TASK and its AGENT_OUTPUT travel.
* **synapse only**: the same four hops through the real dev synapse with DevSynapse
  clients on both ends (publish, subscribe, a queue group), without Dendrites or the
  Signal codec: it splits the gap between the transport and the Dendrite.

No baseline parses JSON; every cosmo:// round trip parses each line twice per hop pair
(client and server) and validates the Signal at both Dendrites.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _peers import NAMESPACE, peer
from _raw import RawCaller
from _table import (
    Options,
    Row,
    latency_rows,
    rate_rows,
    round_trips,
    run_script,
)
from cosmonapse import Dendrite, SignalType, builders, connect_synapse

SECTION = "dev synapse (cosmo://)"
INPUT = {"n": 1, "prompt": "the sun"}
FRAME = builders.task_signal(input=INPUT, neuron="echo").encode()
# What the dev client sends for that TASK: the raw baselines move lines of this size.
LINE = (
    b'{"op":"pub","subject":"cosmonapse.bench.TASK","frame":'
    + orjson.dumps(FRAME.decode())
    + b"}\n"
)


async def raw_echo_figures(opts: Options, inproc: bool) -> tuple[list[float], dict[int, float]]:
    async with peer("raw-echo", inproc=inproc) as address:
        caller = await RawCaller.open(address)
        try:
            return await round_trips(lambda: caller.request(LINE), opts)
        finally:
            await caller.aclose()


async def raw_relay_figures(opts: Options, inproc: bool) -> tuple[list[float], dict[int, float]]:
    async with (
        peer("raw-relay", inproc=inproc) as address,
        peer("raw-workers", address, 1, inproc=inproc),
    ):
        caller = await RawCaller.open(address, b"caller")
        try:
            return await round_trips(lambda: caller.request(LINE), opts)
        finally:
            await caller.aclose()


async def dispatch_figures(
    url: str, opts: Options, inproc: bool
) -> tuple[list[float], dict[int, float]]:
    async with peer("workers", url, 1, "neuron", inproc=inproc):
        bus = await connect_synapse(url)
        caller = Dendrite(synapse=bus, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0)

        async def op() -> None:
            reply = await caller.dispatch_and_wait(neuron="echo", input=INPUT, timeout_s=10)
            assert reply.type is SignalType.AGENT_OUTPUT

        try:
            async with caller:
                return await round_trips(op, opts)
        finally:
            dropped = bus.stats["dropped"]
            await bus.close()
            if dropped:
                print(f"warning: the caller dropped {dropped} frames", file=sys.stderr)


async def synapse_figures(url: str, opts: Options, inproc: bool) -> dict[int, float]:
    async with peer("dev-echoes", url, 1, inproc=inproc):
        bus = await connect_synapse(url)
        waiting: dict[str, asyncio.Future[bytes]] = {}
        ids = itertools.count()

        async def collect(subject: str, data: bytes) -> None:
            fut = waiting.pop(subject, None)
            if fut is not None and not fut.done():
                fut.set_result(data)

        await bus.subscribe("bench.reply.*", collect)

        async def op() -> None:
            key = str(next(ids))
            fut = asyncio.get_running_loop().create_future()
            waiting["bench.reply." + key] = fut
            await bus.publish("bench.ask." + key, FRAME)
            await asyncio.wait_for(fut, 10)

        try:
            _, rates = await round_trips(op, Options(opts.quick, opts.seconds, 1))
            return rates
        finally:
            await bus.close()


async def main(opts: Options | None = None, inproc: bool = False) -> list[Row]:
    opts = opts or Options()
    echo_samples, echo_rates = await raw_echo_figures(opts, inproc)
    relay_samples, relay_rates = await raw_relay_figures(opts, inproc)
    async with peer("dev-server", inproc=inproc) as url:
        samples, rates = await dispatch_figures(url, opts, inproc)
        synapse_rates = await synapse_figures(url, opts, inproc)
    label = "dev: dispatch_and_wait"
    return [
        *latency_rows(label, "raw echo", samples, echo_samples, SECTION),
        *rate_rows("dev: round trips/s", "raw echo", rates, echo_rates, SECTION),
        *latency_rows(label, "raw relay", samples, relay_samples, SECTION),
        *rate_rows("dev: round trips/s", "raw relay", rates, relay_rates, SECTION),
        *rate_rows(
            "dev: synapse only, round trips/s", "raw relay", synapse_rates, relay_rates, SECTION
        ),
    ]


if __name__ == "__main__":
    inproc = "--inproc" in sys.argv
    where = "all in this process" if inproc else "server, worker and caller in 3 processes"
    sys.exit(
        run_script(
            f"dev synapse ({where}; TASK line of {len(LINE)} bytes)",
            functools.partial(main, inproc=inproc),
            __doc__.splitlines()[0],
        )
    )
