"""A worker process: hosts one Axon whose neuron_id is this worker's id.

    python worker.py worker-1
"""

import asyncio
import contextlib
import os
import sys

from cosmonapse import Axon, Dendrite, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")  # the only line per transport
NAMESPACE = "round-robin"
WORKER_ID = sys.argv[1] if len(sys.argv) > 1 else "worker-1"


async def shout(input, context):
    print(f"[{WORKER_ID}] task {input['n']}: {input['text']!r}")
    return {"text": input["text"].upper() + "!"}


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=WORKER_ID, role="worker")
    # Attached: TASKs addressed to this worker's id run here, and starting the Dendrite
    # announces it (REGISTER), which is how the orchestrator knows it is up.
    dendrite.attach_axon(Axon(neuron_id=WORKER_ID, neuron_fn=shout))
    try:
        async with dendrite:
            print(f"{WORKER_ID} ready")
            await asyncio.Event().wait()
    finally:
        await synapse.close()


with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the worker quietly
    asyncio.run(main())
