"""A worker built only on the published cosmonapse 0.1.x API, run by the interop venv.

Usage: published_worker.py URL NAMESPACE NEURON_ID

Hosts one Axon whose Neuron answers ``{"n": n, "double": 2 * n, "by": NEURON_ID}``,
prints ``READY`` once its Dendrite has started, and stops when its stdin closes (the test
owns it) or after a hard deadline.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from cosmonapse import Axon, Dendrite, connect_synapse

DEADLINE_S = 300.0


async def main(url: str, namespace: str, neuron_id: str) -> None:
    async def neuron(task: dict[str, Any], context: list[Any]) -> dict[str, Any]:
        n = int(task["n"])
        return {"n": n, "double": 2 * n, "by": neuron_id}

    synapse = await connect_synapse(url)
    dendrite = Dendrite(
        synapse=synapse, namespace=namespace, dendrite_id=f"pub-{neuron_id}", role="worker"
    )
    dendrite.attach_axon(Axon(neuron_id=neuron_id, neuron_fn=neuron, capabilities=["double"]))
    await dendrite.start()
    try:
        print("READY", flush=True)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.buffer.read), DEADLINE_S)
    except TimeoutError:
        print("published worker: deadline reached, stopping", file=sys.stderr)
    finally:
        await dendrite.stop()
        await synapse.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
    sys.exit(0)
