"""One Neuron, wrapped by an Axon, hosted by a worker Dendrite; an orchestrator Dendrite
dispatches TASKs to it and waits for the answers.

    python main.py                                        # in-process MemorySynapse
    SYNAPSE_URL=cosmo://127.0.0.1:7070 python main.py     # the dev synapse
"""

import asyncio
import os

from cosmonapse import Axon, Dendrite, NeuronError, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "building-a-neuron"


# A Neuron is a plain async function: a dict comes in, a dict goes out.
async def word_stats(input, context):
    text = input.get("text")
    if not isinstance(text, str):
        # A NeuronError becomes an ERROR Signal with this code; nothing crashes.
        raise NeuronError("input needs a 'text' string", code="BAD_INPUT")
    words = text.split()
    return {
        "words": len(words),
        "longest": max(words, key=len) if words else "",
        "ran_on": context.node,  # the Dendrite that ran this Neuron
    }


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)

    # The worker hosts the Axon: TASKs addressed to "word-stats" run here.
    worker = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="worker", role="worker")
    worker.attach_axon(Axon(neuron_id="word-stats", neuron_fn=word_stats, capabilities=["text"]))

    # The orchestrator sends TASKs and waits for the reply on each TASK's trace.
    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="orchestrator")

    try:
        async with worker, orchestrator:
            reply = await orchestrator.dispatch_and_wait(
                neuron="word-stats",
                input={"text": "Neurons are plain async functions on a shared bus"},
                timeout_s=10,
            )
            print(f"{reply.type.value} from {reply.neuron}: {reply.payload['output']}")

            reply = await orchestrator.dispatch_and_wait(
                neuron="word-stats", input={"text": 42}, timeout_s=10
            )
            print(f"{reply.type.value} from {reply.neuron}: "
                  f"{reply.payload['code']}: {reply.payload['message']}")
    finally:
        await synapse.close()


asyncio.run(main())
