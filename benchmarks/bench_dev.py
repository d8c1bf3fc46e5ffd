"""Dev synapse figures: dispatch_and_wait over cosmo:// next to raw asyncio TCP baselines
measured in the same run, with the same processes.

    python benchmarks/bench_dev.py [--quick] [--seconds 2.0] [--sequential 2000] [--inproc]

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
import contextlib
import functools
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _peers import ECHO_INPUT, NAMESPACE, children_cpu, echo_round_trip, peer
from _raw import RawCaller
from _table import (
    Options,
    Row,
    compare,
    cpu_row,
    latency_rows,
    rate_rows,
    run_script,
)
from cosmonapse import Dendrite, builders, connect_synapse

SECTION = "dev synapse (cosmo://)"
CPU = "dev: CPU per round trip, 64 in flight"  # every process: caller, server, worker
FRAME = builders.task_signal(input=ECHO_INPUT, neuron="echo").encode()
# What the dev client sends for that TASK: the raw baselines move lines of this size.
LINE = (
    b'{"op":"pub","subject":"cosmonapse.bench.TASK","frame":'
    + orjson.dumps(FRAME.decode())
    + b"}\n"
)


async def main(opts: Options | None = None, inproc: bool = False) -> list[Row]:
    opts = opts or Options()
    async with contextlib.AsyncExitStack() as stack:
        enter = stack.enter_async_context

        # the raw baselines
        echo = await enter(peer("raw-echo", inproc=inproc))
        relay = await enter(peer("raw-relay", inproc=inproc))
        await enter(peer("raw-workers", relay, 1, inproc=inproc))
        echo_caller = await RawCaller.open(echo)
        stack.push_async_callback(echo_caller.aclose)
        relay_caller = await RawCaller.open(relay, b"caller")
        stack.push_async_callback(relay_caller.aclose)

        # the dev synapse: a worker Dendrite, and the transport-only echo
        url = await enter(peer("dev-server", inproc=inproc))
        await enter(peer("workers", url, 1, "neuron", inproc=inproc))
        await enter(peer("dev-echoes", url, 1, inproc=inproc))
        bus = await connect_synapse(url)
        stack.push_async_callback(bus.close)
        caller = await enter(
            Dendrite(synapse=bus, namespace=NAMESPACE, dendrite_id="c", heartbeat_s=0)
        )
        plain = await connect_synapse(url)
        stack.push_async_callback(plain.close)
        waiting: dict[str, asyncio.Future[bytes]] = {}
        ids = itertools.count()

        async def collect(subject: str, data: bytes) -> None:
            fut = waiting.pop(subject, None)
            if fut is not None and not fut.done():
                fut.set_result(data)

        await plain.subscribe("bench.reply.*", collect)

        async def synapse_op() -> None:
            key = str(next(ids))
            fut = asyncio.get_running_loop().create_future()
            waiting["bench.reply." + key] = fut
            await plain.publish("bench.ask." + key, FRAME)
            await asyncio.wait_for(fut, 10)

        figures = await compare(
            {
                "dispatch": echo_round_trip(caller),
                "echo": lambda: echo_caller.request(LINE),
                "relay": lambda: relay_caller.request(LINE),
                "synapse": synapse_op,
            },
            opts,
            cpu_clock=children_cpu,
        )
        dropped = bus.stats["dropped"] + plain.stats["dropped"]
        if dropped:
            print(f"warning: {dropped} frames dropped during the run", file=sys.stderr)
    dev, raw_echo, raw_relay = figures["dispatch"], figures["echo"], figures["relay"]
    label, rates = "dev: dispatch_and_wait", "dev: round trips/s"
    return [
        *latency_rows(label, "raw echo", dev.samples, raw_echo.samples, SECTION),
        *rate_rows(rates, "raw echo", dev.rates, raw_echo.rates, SECTION),
        *latency_rows(label, "raw relay", dev.samples, raw_relay.samples, SECTION),
        *rate_rows(rates, "raw relay", dev.rates, raw_relay.rates, SECTION),
        *rate_rows(
            "dev: synapse only, round trips/s",
            "raw relay",
            figures["synapse"].rates,
            raw_relay.rates,
            SECTION,
        ),
        cpu_row(CPU, "raw echo", dev, raw_echo, SECTION),
        cpu_row(CPU, "raw relay", dev, raw_relay, SECTION),
        cpu_row(
            "dev: synapse only, " + CPU[5:], "raw relay", figures["synapse"], raw_relay, SECTION
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
