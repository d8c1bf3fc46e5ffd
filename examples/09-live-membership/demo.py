"""Live membership: every worker derives the pool from REGISTER / DEREGISTER, so workers
can join and leave mid-run and ownership follows.

    python demo.py
"""

import asyncio
import os
from collections import Counter

from cosmonapse import (
    Axon,
    Dendrite,
    MemoryRegistryStore,
    SignalType,
    connect_synapse,
    owner_of,
)

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "live-membership"
CAPABILITY = "pool"


async def echo(input, context):
    return {"echo": input["text"]}


class Worker:
    """A quickstart worker whose PEERS are not hard-coded: they come from its registry."""

    def __init__(self, synapse, worker_id, changed):
        self.id = worker_id
        self.registry = MemoryRegistryStore()
        self.registry.on_change(lambda event, participant: changed.set())
        self.claims = 0
        self.dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=worker_id,
                                 role="worker", registry_store=self.registry)
        # Attaching the Axon is what makes this worker announce itself: REGISTER on
        # start, HEARTBEAT while it runs, DEREGISTER on stop.
        self.axon = Axon(neuron_id=worker_id, neuron_fn=echo, capabilities=[CAPABILITY])
        self.dendrite.attach_axon(self.axon)

    def peers(self):
        return self.registry.peers(capability=CAPABILITY)  # sorted: the same on every peer

    async def start(self):
        await self.dendrite.start()
        await self.dendrite.subscribe(SignalType.TASK, self.on_task)

    async def on_task(self, task):
        if task.neuron != CAPABILITY:
            return
        peers = self.peers()
        if self.id not in peers or owner_of(task.trace_id, peers) != self.id:
            return
        self.claims += 1
        await self.dendrite.publish(await self.axon.handle_task(task))


async def converged(workers, changed, timeout_s=10.0):
    """Wait until every running worker sees exactly the running workers."""
    expected = sorted(w.id for w in workers)
    async with asyncio.timeout(timeout_s):
        while True:
            changed.clear()
            if all(w.peers() == expected for w in workers):
                return expected
            await changed.wait()


async def send_round(producer, workers, n):
    for worker in workers:
        worker.claims = 0
    replies = await asyncio.gather(*(
        producer.dispatch_and_wait(neuron=CAPABILITY, input={"text": f"task {i}"}, timeout_s=10)
        for i in range(n)
    ))
    claims = sum(w.claims for w in workers)
    counts = Counter(reply.neuron for reply in replies)
    print(f"   {n} tasks, {claims} claims; answers: "
          + ", ".join(f"{w}={c}" for w, c in sorted(counts.items())))


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    changed = asyncio.Event()
    # The producer only watches membership; it never picks a worker.
    watch = MemoryRegistryStore()
    watch.on_change(lambda event, p: print(f"   {'+' if event == 'join' else '-'} "
                                           f"{p.id} {'joined' if event == 'join' else 'left'}"))
    watched = asyncio.Event()
    watch.on_change(lambda event, p: watched.set())
    producer = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="producer",
                        registry_store=watch)
    running = []

    async def join(worker_id):
        worker = Worker(synapse, worker_id, changed)
        await worker.start()
        running.append(worker)
        peers = await converged(running, changed)
        print(f"   every worker now sees {peers}")

    async def leave(worker_id):
        worker = next(w for w in running if w.id == worker_id)
        running.remove(worker)
        await worker.dendrite.stop()  # sends DEREGISTER
        peers = await converged(running, changed)
        print(f"   every worker now sees {peers}")

    try:
        await producer.start()
        print("1. two workers")
        await join("worker-a")
        await join("worker-b")
        await send_round(producer, running, 8)

        print("2. worker-c joins mid-run")
        await join("worker-c")
        await send_round(producer, running, 8)

        print("3. worker-a leaves")
        await leave("worker-a")
        await send_round(producer, running, 8)
    finally:
        for worker in running:
            await worker.dendrite.stop()
        # Let the last DEREGISTERs reach the producer before it stops listening (on a
        # network bus they arrive a moment later), so every "left" line prints.
        try:
            async with asyncio.timeout(5):
                while watch.peers(capability=CAPABILITY):
                    watched.clear()
                    await watched.wait()
        except TimeoutError:
            pass
        await producer.stop()
        await synapse.close()


asyncio.run(main())
