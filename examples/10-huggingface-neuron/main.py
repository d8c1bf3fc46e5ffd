"""A Neuron backed by a Hugging Face model: Neuron(source="huggingface").

With HF_TOKEN set it calls the Hugging Face router. Without it, this script starts a
local stand-in server (same chat API, deterministic answers) and uses that, so it runs
offline.

    python main.py
    HF_TOKEN=hf_... python main.py
"""

import asyncio
import contextlib
import os

from cosmonapse import Axon, Dendrite, Neuron, SignalType, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "huggingface"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
HF_TOKEN = os.environ.get("HF_TOKEN")


async def main():
    async with contextlib.AsyncExitStack() as stack:
        if HF_TOKEN:
            endpoint = "https://router.huggingface.co"
            print(f"HF_TOKEN is set: asking {MODEL} through the Hugging Face router")
        else:
            from cosmonapse_neuron_hf.standin import StandInServer

            standin = await stack.enter_async_context(StandInServer())
            endpoint = standin.url
            print(f"no HF_TOKEN: started a local stand-in at {endpoint} (offline, canned answers)")

        # api_key defaults to HF_TOKEN from the environment; the stand-in needs none.
        neuron = Neuron(source="huggingface", endpoint=endpoint, model=MODEL,
                        use_chat_api=True, max_new_tokens=64, temperature=0.2)

        synapse = await connect_synapse(SYNAPSE_URL)
        stack.push_async_callback(synapse.close)
        worker = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="gpu-box",
                          role="worker")
        # The Dendrite closes the Neuron's HTTP connection pool when it stops.
        worker.attach_axon(Axon(neuron_id="llm", neuron_fn=neuron, capabilities=["chat"]))
        orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="app")

        async with worker, orchestrator:
            for prompt in ["Write one line about the sea.", "And one about the wind."]:
                reply = await orchestrator.dispatch_and_wait(
                    capabilities=["chat"], input={"prompt": prompt}, timeout_s=60
                )
                show(prompt, reply)

            # Per-call options override the Neuron's defaults: here, a 4-token budget.
            reply = await orchestrator.dispatch_and_wait(
                capabilities=["chat"],
                input={"prompt": "Describe the moon.", "max_new_tokens": 4},
                timeout_s=60,
            )
            show("Describe the moon. (max_new_tokens=4)", reply)


def show(prompt, reply):
    print(f"> {prompt}")
    if reply.type is SignalType.ERROR:
        print(f"  ERROR {reply.payload['code']}: {reply.payload['message']}")
        return
    output = reply.payload["output"]
    print(f"  {output['response'].strip()}")
    print(f"  [by {reply.neuron}, finish_reason={output['meta'].get('finish_reason')}]")


asyncio.run(main())
