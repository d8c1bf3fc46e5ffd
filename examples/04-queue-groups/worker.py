"""A worker in the "pool" queue group: the Synapse hands each TASK to one member.

    python worker.py worker-1
"""

import asyncio
import contextlib
import os
import sys

from cosmonapse import Axon, Dendrite, SignalType, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")  # the only line per transport
NAMESPACE = "queue-groups"
WORKER_ID = sys.argv[1] if len(sys.argv) > 1 else "worker-1"


async def reverse(input, context):
    return {"text": input["text"][::-1]}


async def main():
    # Not attached: this worker runs the Neuron itself for every TASK the group hands it.
    axon = Axon(neuron_id=WORKER_ID, neuron_fn=reverse)
    synapse = await connect_synapse(SYNAPSE_URL)
    dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=WORKER_ID, role="worker")

    async def on_task(task):
        if task.neuron != "pool":
            return
        print(f"[{WORKER_ID}] got {task.payload['input']['text']!r}")
        await dendrite.publish(await axon.handle_task(task))

    try:
        async with dendrite:
            # Same queue_group on every worker: each TASK goes to exactly one of them.
            # No hashing, no coordination; the broker does the balancing.
            await dendrite.subscribe(SignalType.TASK, on_task, queue_group="pool")
            print(f"{WORKER_ID} ready (queue group 'pool')")
            await asyncio.Event().wait()
    finally:
        await synapse.close()


with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the worker quietly
    asyncio.run(main())
