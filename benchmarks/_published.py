"""The published cosmonapse 0.1.14 in process, run by the python of a venv of its own
(``bench_peers.py`` builds it; the distribution name collides with this repository's).

    <venv>/bin/python benchmarks/_published.py SECONDS ROUNDS

Measures, in alternation (``_table.compare``, which needs only the standard library),
the published ``Dendrite.dispatch_and_wait`` over its in-process ``MemorySynapse`` (a
caller Dendrite, a worker Dendrite hosting an echo Neuron that returns its input) next to
the same asyncio-queue ping-pong as ``bench_core.py``, at 1 and 64 in flight, and prints
one JSON line: ``{"version", "rates": {in_flight: [published, raw]}, "cpu": {...}}``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import Options, compare

ECHO_INPUT = {"n": 1, "prompt": "the sun"}  # the same as _peers.ECHO_INPUT
IN_FLIGHT = (1, 64)


async def main(seconds: float, rounds_full: bool) -> dict[str, Any]:
    from cosmonapse import Axon, Dendrite, MemorySynapse  # the published one

    pairs = []
    for _ in range(max(IN_FLIGHT)):
        requests: asyncio.Queue[int] = asyncio.Queue()
        replies: asyncio.Queue[int] = asyncio.Queue()

        async def echo(requests: asyncio.Queue[int] = requests, replies: Any = replies) -> None:
            while True:
                replies.put_nowait(await requests.get())

        pairs.append((requests, replies, asyncio.get_running_loop().create_task(echo())))
    free = list(pairs)

    async def raw_op() -> None:
        pair = free.pop()
        pair[0].put_nowait(1)
        await pair[1].get()
        free.append(pair)

    async def neuron(task: dict[str, Any], context: object) -> dict[str, Any]:
        return task

    bus = MemorySynapse()
    if hasattr(bus, "connect"):
        await bus.connect()
    worker = Dendrite(synapse=bus, namespace="bench", dendrite_id="w", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=neuron))
    caller = Dendrite(synapse=bus, namespace="bench", dendrite_id="c", heartbeat_s=0)
    await worker.start()
    await caller.start()

    async def published_op() -> None:
        reply = await caller.dispatch_and_wait(neuron="echo", input=ECHO_INPUT, timeout_s=10)
        assert reply.type.value == "AGENT_OUTPUT", reply

    try:
        opts = Options(quick=not rounds_full, seconds=seconds)
        figures = await compare(
            {"published": published_op, "raw": raw_op}, opts, sequential=False, in_flight=IN_FLIGHT
        )
    finally:
        await asyncio.wait_for(caller.stop(), 10)
        await asyncio.wait_for(worker.stop(), 10)
        await asyncio.wait_for(bus.close(), 10)
        for _, _, task in pairs:
            task.cancel()
        await asyncio.gather(*(task for _, _, task in pairs), return_exceptions=True)
    pub, raw = figures["published"], figures["raw"]
    return {
        "version": importlib.metadata.version("cosmonapse"),
        "rates": {n: [pub.rates[n], raw.rates[n]] for n in IN_FLIGHT},
        "cpu": {n: [pub.cpu[n], raw.cpu[n]] for n in IN_FLIGHT},
    }


if __name__ == "__main__":
    result = asyncio.run(main(float(sys.argv[1]), sys.argv[2] == "full"))
    print(json.dumps(result), flush=True)
