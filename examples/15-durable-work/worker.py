"""A worker hosting the Neuron "summarizer" on nats+js://: its TASKs come from JetStream.

    SYNAPSE_URL=nats+js://127.0.0.1:4222 python worker.py worker-1

demo.py starts these itself. Each line it prints is flushed at once, so whoever reads the
pipe sees a TASK start the moment it does:

    worker-1 ready
    worker-1 started <trace id> <text>
    worker-1 answered <trace id>
"""

import asyncio
import contextlib
import os
import signal
import sys

from cosmonapse import Axon, Dendrite, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "nats+js://127.0.0.1:4222")  # set by demo.py
NAMESPACE = "durable-work"
WORKER_ID = sys.argv[1] if len(sys.argv) > 1 else "worker-1"
ACK_WAIT_S = 2.0  # a dead worker's TASK goes to another after this (default 30 s)


def say(line):
    print(f"{WORKER_ID} {line}", flush=True)


async def summarize(input, context):
    say(f"started {context.trace_id} {input['text']}")
    await asyncio.sleep(input.get("seconds", 0))  # a slow model call
    say(f"answered {context.trace_id}")
    return {"summary": input["text"].split(".")[0], "by": WORKER_ID}


async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    synapse = await connect_synapse(SYNAPSE_URL, ack_wait=ACK_WAIT_S)
    dendrite = Dendrite(
        synapse=synapse, namespace=NAMESPACE, dendrite_id=WORKER_ID, role="worker", heartbeat_s=0
    )
    # Attached: the Dendrite runs the Neuron for every TASK addressed to "summarizer".
    # Every worker hosts the same id, so they share one durable consumer.
    dendrite.attach_axon(Axon(neuron_id="summarizer", neuron_fn=summarize))
    try:
        async with dendrite:
            say("ready")
            await stop.wait()
    finally:
        await synapse.close()  # hands back a TASK still held here (SIGTERM, not SIGKILL)


with contextlib.suppress(KeyboardInterrupt):
    asyncio.run(main())
