"""Drop eight TASKs into the pool at once; the queue group decides who runs each.

    python producer.py
"""

import asyncio
import os
from collections import Counter

from cosmonapse import Dendrite, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")  # the only line per transport
NAMESPACE = "queue-groups"
WORDS = ["stressed", "drawer", "diaper", "spoons", "reward", "repaid", "deliver", "straw"]


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    producer = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="producer")
    try:
        async with producer:
            replies = await asyncio.gather(*(
                producer.dispatch_and_wait(neuron="pool", input={"text": word}, timeout_s=10)
                for word in WORDS
            ))
            for word, reply in zip(WORDS, replies, strict=True):
                print(f"{word!r:>10} -> {reply.payload['output']['text']!r:<10} by {reply.neuron}")
            counts = Counter(reply.neuron for reply in replies)
            print("answers per worker:", ", ".join(f"{w}={n}" for w, n in sorted(counts.items())))
    finally:
        await synapse.close()


asyncio.run(main())
