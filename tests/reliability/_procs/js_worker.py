"""A worker process for the durable-work tests: ``python js_worker.py URL NAMESPACE MODE``.

It connects to ``nats+js://`` at URL (a short ``ack_wait``, so a dead worker's TASK is
redelivered soon) and hosts Neuron ``crunch`` on a worker Dendrite. MODE ``hold`` holds
every TASK until the process is killed; MODE ``answer`` answers at once. Lines on stdout
(flushed at once) are the evidence the tests read:

* ``ready <pid>``: the Dendrite started (its REGISTER makes the synapse pull stored TASKs).
* ``started <n> <trace_id>``: the Neuron began the TASK whose input is ``{"n": n}``.
* ``answered <n>``: the Neuron returned.

SIGTERM or SIGINT stop the worker cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from cosmonapse import Axon, Dendrite, NeuronContext, connect_synapse

HOLD_LIMIT_S = 120.0  # a held TASK gives up eventually, so nothing here waits forever
ACK_WAIT_S = 1.5


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(url: str, namespace: str, mode: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def crunch(input: Mapping[str, Any], context: NeuronContext) -> dict[str, Any]:
        say(f"started {input['n']} {context.trace_id}")
        if mode == "hold":
            await asyncio.sleep(HOLD_LIMIT_S)
        say(f"answered {input['n']}")
        return {"pid": os.getpid(), "n": input["n"]}

    synapse = await connect_synapse(url, ack_wait=ACK_WAIT_S, reconnect_time_wait=0.1)
    dendrite = Dendrite(
        synapse=synapse,
        namespace=namespace,
        dendrite_id=f"worker-{os.getpid()}",
        role="worker",
        heartbeat_s=0,
    )
    dendrite.attach_axon(Axon(neuron_id="crunch", neuron_fn=crunch, capabilities=["crunch"]))
    try:
        async with dendrite:
            say(f"ready {os.getpid()}")
            await stop.wait()
    finally:
        await synapse.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
