"""The orchestrator picks the worker: TASK i goes to WORKERS[i % len(WORKERS)].

    python orchestrator.py
"""

import asyncio
import itertools
import os

from cosmonapse import Dendrite, MemoryRegistryStore, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")  # the only line per transport
NAMESPACE = "round-robin"
WORKERS = ["worker-1", "worker-2"]
TEXTS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


async def wait_for_workers(registry, wanted, timeout_s=30.0):
    """Wait until every wanted worker has announced itself (REGISTER)."""
    changed = asyncio.Event()
    registry.on_change(lambda event, participant: changed.set())
    async with asyncio.timeout(timeout_s):
        while True:
            changed.clear()
            if set(wanted) <= set(registry.peers(role="neuron")):
                return
            await changed.wait()


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    # With a registry_store the Dendrite asks peers to announce themselves on start
    # (DISCOVER) and keeps track of who is up from REGISTER / DEREGISTER.
    registry = MemoryRegistryStore()
    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE,
                            dendrite_id="orchestrator", registry_store=registry)
    try:
        async with orchestrator:
            await wait_for_workers(registry, WORKERS)
            for n, (text, worker) in enumerate(zip(TEXTS, itertools.cycle(WORKERS))):
                reply = await orchestrator.dispatch_and_wait(
                    neuron=worker, input={"n": n, "text": text}, timeout_s=10
                )
                print(f"task {n} -> {reply.neuron}: {reply.payload['output']['text']}")
    finally:
        await synapse.close()


asyncio.run(main())
