"""More peers, and a hash ring with virtual nodes.

Part 1 counts how many traces change owner when a fourth peer joins three: with the
quickstart's modulo hash, and with a consistent-hash ring. Part 2 runs peers on the bus
that claim TASKs by the ring, then lets a fifth peer join.

    python demo.py
"""

import asyncio
import os
from collections import Counter

from cosmonapse import Axon, Dendrite, HashRing, SignalType, connect_synapse, owner_of

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "consistent-hashing"


def part_1_how_many_traces_move():
    print("1. a fourth peer joins three: how many of 10000 traces change owner?")
    traces = [f"trace-{i}" for i in range(10_000)]
    before = ["peer-1", "peer-2", "peer-3"]
    after = [*before, "peer-4"]

    moved = sum(owner_of(t, before) != owner_of(t, after) for t in traces)
    print(f"   modulo (owner_of):           {moved:5d} move ({moved / 100:.1f}%)")

    ring_before, ring_after = HashRing(before), HashRing(after)
    moved = sum(ring_before.owner_of(t) != ring_after.owner_of(t) for t in traces)
    print(f"   ring, 160 virtual nodes:     {moved:5d} move ({moved / 100:.1f}%)"
          "   the least possible is 25.0%")

    load = Counter(ring_after.owner_of(t) for t in traces)
    print("   ring load on 4 peers:        " + ", ".join(f"{p}={load[p]}" for p in after))
    print()


async def count_vowels(input, context):
    return {"vowels": sum(ch in "aeiou" for ch in input["text"].lower())}


class Peer:
    """A worker that claims a TASK when its own copy of the ring names it."""

    def __init__(self, synapse, peer_id, peers):
        self.id = peer_id
        self.ring = HashRing(peers)  # every peer builds the same ring from the same ids
        self.axon = Axon(neuron_id=peer_id, neuron_fn=count_vowels)  # not attached
        self.dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=peer_id,
                                 role="worker", heartbeat_s=0)
        self.claimed = 0

    async def start(self):
        await self.dendrite.start()
        await self.dendrite.subscribe(SignalType.TASK, self.on_task)

    async def on_task(self, task):
        if self.ring.owner_of(task.trace_id) != self.id:
            return  # another peer owns this trace
        self.claimed += 1
        await self.dendrite.publish(await self.axon.handle_task(task))


async def send_round(producer, peers, texts, ring):
    for peer in peers:
        peer.claimed = 0
    replies = await asyncio.gather(*(
        producer.dispatch_and_wait(neuron="pool", input={"text": t}, timeout_s=10)
        for t in texts
    ))
    by_owner = sum(r.neuron == ring.owner_of(r.trace_id) for r in replies)
    per_peer = Counter(r.neuron for r in replies)
    claims = sum(peer.claimed for peer in peers)
    print(f"   {len(texts)} tasks, {claims} claims, {by_owner} answered by the ring's owner")
    print("   answers per peer: " + ", ".join(f"{p}={n}" for p, n in sorted(per_peer.items())))


async def part_2_peers_on_the_bus(synapse):
    print("2. peers claim TASKs by the ring; nobody coordinates")
    ids = ["worker-1", "worker-2", "worker-3", "worker-4"]
    peers = [Peer(synapse, peer_id, ids) for peer_id in ids]
    producer = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="producer",
                        heartbeat_s=0)
    texts = [f"message number {i} for the pool" for i in range(24)]
    try:
        await producer.start()
        for peer in peers:
            await peer.start()
        await send_round(producer, peers, texts, HashRing(ids))

        print("   worker-5 joins; every peer adds it to its ring")
        ids.append("worker-5")
        newcomer = Peer(synapse, "worker-5", ids)
        await newcomer.start()
        peers.append(newcomer)
        for peer in peers[:-1]:
            peer.ring.add("worker-5")
        await send_round(producer, peers, texts, HashRing(ids))
    finally:
        for peer in peers:
            await peer.dendrite.stop()
        await producer.stop()


async def main():
    part_1_how_many_traces_move()
    synapse = await connect_synapse(SYNAPSE_URL)
    try:
        await part_2_peers_on_the_bus(synapse)
    finally:
        await synapse.close()


asyncio.run(main())
