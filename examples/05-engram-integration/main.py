"""A Neuron that recalls before computing and imprints after: an Engram as a shared cache.

    python main.py
"""

import asyncio
import os

from cosmonapse import Axon, Dendrite, EngramBinding, InMemoryEngram, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "engram-cache"


async def slow_fib(n):
    await asyncio.sleep(0.2)  # stands in for the slow part: a model call, a big query
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


# Declaring keyword-only `recall` and `imprint` asks the Axon for helpers bound to this
# TASK's trace; they reach only the Engrams the Axon lists (here: "cache").
async def fib(input, context, *, recall, imprint):
    key = f"fib:{input['n']}"
    hits = await recall("cache", query={"key": key}, top_k=1)
    if hits:
        return {"n": input["n"], "value": hits[0].entry["value"], "source": "cache"}
    value = await slow_fib(input["n"])
    # upsert by merge_key: asking twice at once still leaves one entry per key.
    await imprint("cache", op="upsert", entry={"key": key, "value": value}, merge_key=key)
    return {"n": input["n"], "value": value, "source": "computed"}


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    cache = InMemoryEngram(engram_id="fib-cache")

    # The Engram lives on its own Dendrite; the Neuron reaches it over the bus.
    host = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="cache-host", role="worker")
    host.attach_engram(cache)

    worker = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="worker", role="worker")
    worker.attach_axon(Axon(
        neuron_id="fib", neuron_fn=fib,
        engrams=[EngramBinding(name="cache", directed_id="fib-cache")],
    ))
    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="orchestrator")

    try:
        async with host, worker, orchestrator:
            for n in (90, 90, 42, 90):
                # finalize=True: the worker follows its answer with a FINAL, which commits
                # the trace's cache write (a FINAL-ended trace can no longer be rolled back).
                final = await orchestrator.dispatch_and_wait(
                    neuron="fib", input={"n": n}, finalize=True, timeout_s=10
                )
                result = final.payload["result"]
                print(f"fib({result['n']}) = {result['value']}  [{result['source']}]")
            print(f"cache entries: {len(cache)}")
    finally:
        await synapse.close()


asyncio.run(main())
