"""A plugin the core has never heard of, used by name only.

    python -m pip install -e cosmonapse-plugin-echo
    python demo.py

Nothing below imports cosmonapse_plugin_echo: the Neuron source "echo" and the Engram kind
"kv" are found through the entry points its pyproject.toml declares.
"""

import asyncio
import os
import sys
from importlib.metadata import PackageNotFoundError, distribution

from cosmonapse import (
    Axon,
    Dendrite,
    Engram,
    EngramBinding,
    Neuron,
    SignalType,
    connect_synapse,
    new_trace_id,
)

SYNAPSE_URL = os.environ.get("SYNAPSE_URL", "memory://")  # the only line per transport
NAMESPACE = "third-party-plugin"
PLUGIN = "cosmonapse-plugin-echo"


def show_plugin():
    try:
        dist = distribution(PLUGIN)
    except PackageNotFoundError:
        sys.exit(f"{PLUGIN} is not installed: python -m pip install -e {PLUGIN}")
    print(f"{PLUGIN} {dist.version} registers:")
    for ep in sorted(dist.entry_points, key=lambda ep: ep.group):
        print(f"   {ep.group:20} {ep.name:5} -> {ep.value}")


def contents(engram):
    return {hit.entry["key"]: hit.entry["value"] for hit in engram.recall({})}


async def main():
    show_plugin()
    synapse = await connect_synapse(SYNAPSE_URL)

    # The Engram, by kind, on its own Dendrite; the Neurons reach it over the bus. An
    # unknown kind fails here with the installed kinds listed.
    log = Engram.of_kind("kv", engram_id="echo-log")
    host = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="kv-host", role="worker")
    host.attach_engram(log)

    # The Neuron, by source; store="log" makes it upsert each answer into the Engram
    # bound as "log" (the kv Engram above), under the TASK's trace.
    worker = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="worker", role="worker")
    worker.attach_axon(
        Axon(
            neuron_id="titler",
            neuron_fn=Neuron(source="echo", transform="title", store="log"),
            engrams=[EngramBinding(name="log", directed_id="echo-log")],
        )
    )
    orchestrator = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="orchestrator")

    async def title(text, key, **options):
        reply = await orchestrator.dispatch_and_wait(
            neuron="titler", input={"text": text, "key": key}, timeout_s=10, **options
        )
        if reply.type is SignalType.ERROR:
            raise RuntimeError(f"titler failed: {reply.payload}")
        # With finalize=True the reply is the FINAL, which carries the output as its result.
        return reply.payload["result" if reply.type is SignalType.FINAL else "output"]

    try:
        async with host, worker, orchestrator:
            # finalize=True: a FINAL ends trace 1 and commits its write.
            calm = await title("the  bus   is calm", "greeting", finalize=True)
            print(f"trace 1: 'the  bus   is calm' -> {calm['text']!r}, then FINAL")
            print(f"   kv: {contents(log)}")

            # Trace 2 overwrites one key and adds another, then is stopped with rollback:
            # the kv host replays the trace's inverse ops, newest first.
            tid = new_trace_id()
            loud = await title("the bus is loud", "greeting", trace_id=tid)
            half = await title("half a thought", "draft", trace_id=tid)
            print(
                f"trace 2: 'the bus is loud' -> {loud['text']!r}, "
                f"'half a thought' -> {half['text']!r}"
            )
            print(f"   kv: {contents(log)}")
            acks = await orchestrator.stop_trace(
                tid, rollback=True, collect_acks=True, timeout_s=2.0
            )
            replayed = sum(ack.payload.get("compensated", 0) for ack in acks)
            print(f"trace 2 stopped with rollback: {replayed} inverse ops replayed")
            print(f"   kv: {contents(log)}")
    finally:
        await synapse.close()


asyncio.run(main())
