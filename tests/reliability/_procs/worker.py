"""A worker process for the fault tests: ``python worker.py URL NAMESPACE``.

It connects to the bus at URL (``cosmo://`` or ``nats://``) and hosts Neuron ``crunch``
(capability ``crunch``) on a worker Dendrite, so capability-routed TASKs reach one member
of the ``caps:crunch`` queue group. Lines on stdout (flushed at once) tell the test what happens:

* ``ready <pid>``: subscribed; TASKs dispatched from now on reach this process.
* ``started <trace_id> <attempt>``: a TASK began; the Neuron now holds it.
* ``cancelled <trace_id> <attempt>``: a held TASK was cancelled (its trace was STOPped).
* ``answered <trace_id> <attempt>``: the Neuron returned.

The Neuron holds every TASK until the process gets SIGUSR1 (then it answers them all,
and every later one at once), so the test decides which worker may answer. The answer
carries this process's pid. SIGTERM or SIGINT stop the worker cleanly.
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


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(url: str, namespace: str) -> None:
    loop = asyncio.get_running_loop()
    released = asyncio.Event()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, released.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def crunch(input: Mapping[str, Any], context: NeuronContext) -> dict[str, Any]:
        where = f"{context.trace_id} {context.attempt}"
        say(f"started {where}")
        try:
            await asyncio.wait_for(released.wait(), HOLD_LIMIT_S)
        except asyncio.CancelledError:
            say(f"cancelled {where}")
            raise
        say(f"answered {where}")
        return {"pid": os.getpid(), "attempt": context.attempt, "doubled": input["x"] * 2}

    options: dict[str, Any] = {}
    if url.startswith("cosmo://"):  # quick to come back if the dev synapse restarts
        options = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.5}
    synapse = await connect_synapse(url, **options)
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
    asyncio.run(main(sys.argv[1], sys.argv[2]))
