import asyncio, os
from cosmonapse import Dendrite, connect_synapse, new_trace_id

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    dendrite = Dendrite(synapse=synapse, namespace="quickstart", dendrite_id="producer", heartbeat_s=0)
    pending = {}

    @dendrite.on_agent_output
    async def _on_output(sig):
        fut = pending.pop(sig.trace_id, None)
        if fut and not fut.done():
            fut.set_result((sig.neuron, sig.payload.get("output", {})))

    prompts = ["the sun", "the moon", "the sea", "the wind"]
    try:
        async with dendrite:
            for p in prompts:
                trace_id = new_trace_id()
                fut = asyncio.get_running_loop().create_future()
                pending[trace_id] = fut
                # The producer does NO routing — it just drops work in.
                await dendrite.dispatch_task(neuron="pool", input={"prompt": p}, trace_id=trace_id)
                who, out = await asyncio.wait_for(fut, timeout=60)
                print(f"{who} answered: {out.get('response', '').strip()}")
    finally:
        await synapse.close()


asyncio.run(main())
