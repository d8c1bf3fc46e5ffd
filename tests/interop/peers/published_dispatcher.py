"""A dispatcher built only on the published cosmonapse 0.1.x API, run by the interop venv.

Usage: published_dispatcher.py URL NAMESPACE NEURON_ID COUNT

Prints ``READY`` once its Dendrite has started, then waits for one line on stdin (the
test's go-ahead), dispatches COUNT TASKs addressed to NEURON_ID one after the other with
the published ``dispatch_and_wait`` and prints one JSON line per answer:
``{"n": n, "type": ..., "output": ..., "by": directed.id, "parent_id": ...}``,
then ``DONE``. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import sys

from cosmonapse import Dendrite, connect_synapse

TASK_TIMEOUT_S = 20.0


async def main(url: str, namespace: str, neuron_id: str, count: str) -> None:
    synapse = await connect_synapse(url)
    dendrite = Dendrite(synapse=synapse, namespace=namespace, dendrite_id="pub-dispatcher")
    await dendrite.start()
    try:
        print("READY", flush=True)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 120)
        for n in range(int(count)):
            sig = await dendrite.dispatch_and_wait(
                neuron=neuron_id, input={"n": n}, timeout_s=TASK_TIMEOUT_S
            )
            directed = sig.directed
            line = {
                "n": n,
                "type": sig.type.value,
                "output": sig.payload.get("output"),
                "by": directed.id if directed is not None else None,
                "parent_id": sig.parent_id,
            }
            print(json.dumps(line), flush=True)
        print("DONE", flush=True)
    finally:
        await dendrite.stop()
        await synapse.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
