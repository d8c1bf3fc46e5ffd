import asyncio, hashlib, os
from cosmonapse import Axon, Neuron, Dendrite, SignalType, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")  # ← the only line that changes per transport
NAMESPACE = "quickstart"
MY_ID = "worker-b"                      # worker-a differs only here
PEERS = ("worker-a", "worker-b")        # every peer knows the pool

# With HF_TOKEN: the real router, as in the quickstart. Without: the local stand-in
# (python -m cosmonapse_neuron_hf.standin --port 8089), which needs no key.
HF_TOKEN = os.environ.get("HF_TOKEN")
ENDPOINT = ("https://router.huggingface.co" if HF_TOKEN
            else os.environ.get("COSMO_HF_ENDPOINT", "http://127.0.0.1:8089"))
API_KEY = HF_TOKEN or "offline-stand-in"


def owner_of(trace_id: str) -> str:
    """Pure function: every peer computes the SAME owner — no coordination."""
    h = int(hashlib.sha1(trace_id.encode()).hexdigest(), 16)
    return PEERS[h % len(PEERS)]


async def main():
    # The Axon is NOT attached — we route by hash, not by neuron-id.
    axon = Axon(
        neuron_id=MY_ID,
        neuron_fn=Neuron(
            source="huggingface",
            endpoint=ENDPOINT,
            model="meta-llama/Llama-3.1-8B-Instruct",
            api_key=API_KEY,
            use_chat_api=True,
            max_new_tokens=128,
        ),
        capabilities=["chat"],
    )
    synapse = await connect_synapse(SYNAPSE_URL)
    dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id=MY_ID, heartbeat_s=0)

    async def on_task(task):
        if owner_of(task.trace_id) != MY_ID:
            return                                   # a peer owns this one
        print(f"[{MY_ID}] claims {task.trace_id[4:12]}")
        reply = await axon.handle_task(task)         # run the Neuron
        await dendrite.publish(reply)                # emit AGENT_OUTPUT

    try:
        async with dendrite:
            await dendrite.subscribe(SignalType.TASK, on_task)
            print(f"{MY_ID} listening — no cortex, no queue")
            await asyncio.Event().wait()
    finally:
        await synapse.close()


asyncio.run(main())
