"""A small workflow worth watching: a planner asks a researcher, then a writer, then
ends the trace with a FINAL. Every fourth topic the writer refuses, ending in an ERROR.

Run it against the dev synapse and watch it in Prism (see the README):

    python workflow.py            # SYNAPSE_URL defaults to cosmo://127.0.0.1:7070
"""

import asyncio
import itertools
import os

from cosmonapse import Axon, Dendrite, NeuronError, SignalType, connect_synapse

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "cosmo://127.0.0.1:7070")  # the only line per transport
NAMESPACE = "prism-demo"
ROUNDS = int(os.environ.get("ROUNDS", "0"))  # 0: until Ctrl-C
PAUSE_S = float(os.environ.get("PAUSE_S", "1.5"))
TOPICS = ["tide pools", "lighthouses", "migrating geese", "glaciers", "night trains"]


async def research(input, context):
    await asyncio.sleep(0.3)  # looks like work in Prism's timings
    return {"notes": [f"{input['topic']} fact {i}" for i in (1, 2, 3)]}


async def write(input, context):
    await asyncio.sleep(0.2)
    if input["round"] % 4 == 0:
        raise NeuronError(f"no words left for {input['topic']!r}", code="WRITER_BLOCKED")
    return {"draft": f"Three things about {input['topic']}: " + "; ".join(input["notes"])}


def build(synapse):
    """The three participants: two workers and the planner (the orchestrator)."""
    researcher = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="research-desk",
                          role="worker", heartbeat_s=5)
    researcher.attach_axon(Axon(neuron_id="researcher", neuron_fn=research,
                                capabilities=["research"]))
    writer = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="writing-desk",
                      role="worker", heartbeat_s=5)
    writer.attach_axon(Axon(neuron_id="writer", neuron_fn=write, capabilities=["write"]))
    planner = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="planner")
    return [researcher, writer, planner], planner


async def one_round(planner, n, topic):
    """research -> write -> FINAL, all under one trace; returns a one-line summary."""
    notes = await planner.dispatch_and_wait(capabilities=["research"], input={"topic": topic},
                                            timeout_s=10)
    # The second TASK joins the first one's trace, so Prism draws them as one tree.
    draft = await planner.dispatch_and_wait(
        capabilities=["write"], trace_id=notes.trace_id, parent_id=notes.id, timeout_s=10,
        input={"topic": topic, "round": n, "notes": notes.payload["output"]["notes"]},
    )
    if draft.type is SignalType.ERROR:
        return f"round {n}: {topic!r} -> ERROR {draft.payload['code']}"
    await planner.emit_final(trace_id=notes.trace_id, parent_id=draft.id,
                             result=draft.payload["output"])
    return f"round {n}: {topic!r} -> FINAL"


async def run(synapse, rounds=ROUNDS, pause_s=PAUSE_S):
    dendrites, planner = build(synapse)
    try:
        for dendrite in dendrites:
            await dendrite.start()
        counter = itertools.count(1) if rounds == 0 else range(1, rounds + 1)
        for n in counter:
            print(await one_round(planner, n, TOPICS[(n - 1) % len(TOPICS)]))
            await asyncio.sleep(pause_s)
    finally:
        for dendrite in reversed(dendrites):
            await dendrite.stop()


async def main():
    synapse = await connect_synapse(SYNAPSE_URL)
    try:
        await run(synapse)
    finally:
        await synapse.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("stopped")
