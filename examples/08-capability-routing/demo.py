"""Dispatch by what a Neuron can do, not by who it is.

Two summarizers and a polyglot (profile ["summarize", "french"]) all cover "summarize", so
they share that load, each TASK run once; a translator gets only what it covers.

    python demo.py
"""

import asyncio
import os
from collections import Counter

from cosmonapse import Axon, Dendrite, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "capability-routing"
RUNS = Counter()  # Neuron runs per host, to show each TASK ran exactly once


async def summarize(input, context):
    RUNS[context.neuron_id] += 1
    words = input["text"].split()
    return {"summary": " ".join(words[:4]) + (" ..." if len(words) > 4 else "")}


FRENCH = {"good": "bon", "morning": "matin", "the": "le", "bus": "bus", "is": "est",
          "quiet": "calme"}


async def translate(input, context):
    return {"text": " ".join(FRENCH.get(w, w) for w in input["text"].lower().split())}


def worker(synapse, dendrite_id, neuron_fn, capabilities):
    dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=dendrite_id,
                        role="worker")
    # Hosting an Axon with capabilities announces them (REGISTER): a dispatcher picks one
    # covering host per capability TASK from that live membership.
    dendrite.attach_axon(Axon(neuron_id=dendrite_id, neuron_fn=neuron_fn,
                              capabilities=capabilities))
    return dendrite


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    workers = [
        worker(synapse, "summarizer-1", summarize, ["summarize"]),
        worker(synapse, "summarizer-2", summarize, ["summarize"]),
        worker(synapse, "polyglot", summarize, ["summarize", "french"]),
        worker(synapse, "translator", translate, ["translate"]),
    ]
    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="orchestrator")
    texts = [f"report number {i} on the state of the bus this morning" for i in range(8)]
    try:
        for dendrite in [*workers, orchestrator]:
            await dendrite.start()

        # No neuron id: one host that covers ["summarize"] takes each TASK, whatever
        # else it offers; the least loaded one, so the three share the work.
        replies = await asyncio.gather(*(
            orchestrator.dispatch_and_wait(capabilities=["summarize"], input={"text": t},
                                           timeout_s=10)
            for t in texts
        ))
        print(f"summarize: {replies[0].payload['output']['summary']!r}")
        counts = Counter(reply.neuron for reply in replies)
        print(f"   {len(replies)} TASKs, {sum(RUNS.values())} runs, answered by: "
              + ", ".join(f"{n}={c}" for n, c in sorted(counts.items())))

        reply = await orchestrator.dispatch_and_wait(
            capabilities=["translate"], input={"text": "Good morning the bus is quiet"},
            timeout_s=10,
        )
        print(f"translate: {reply.payload['output']['text']!r} by {reply.neuron}")
    finally:
        for dendrite in [orchestrator, *workers]:
            await dendrite.stop()
        await synapse.close()


asyncio.run(main())
