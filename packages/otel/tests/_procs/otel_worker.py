"""One worker process of the OTel test: hosts the neurons named on the command line on
``otel+<URL>`` (so tracing is switched on by the URL alone) and exports its spans over
OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``.

    python otel_worker.py cosmo://127.0.0.1:PORT NAMESPACE NAME planner researcher

``planner`` delegates to ``researcher``; ``researcher`` stalls on its first TASK in this
process (until STOPped), answers later ones with reported tokens. SIGTERM ends the
process cleanly: the Dendrite stops, the synapse closes and the spans are flushed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from cosmonapse import Axon, Dendrite, connect_synapse

researched = 0


def say(line: str) -> None:
    print(line, flush=True)


async def planner(input: dict[str, Any], context: Any, *, call: Any) -> Any:
    context.report_tokens(3)
    fact = await call(neuron="researcher", input={"topic": input["topic"]})
    return {"plan": [fact]}


async def researcher(input: dict[str, Any], context: Any) -> Any:
    global researched
    researched += 1
    if researched == 1:
        say(f"stalling {context.trace_id}")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            say(f"cancelled {context.trace_id}")
            raise
    context.report_tokens(11)
    return {"fact": input["topic"].upper()}


NEURONS = {"planner": planner, "researcher": researcher}


async def main(url: str, namespace: str, name: str, neurons: list[str]) -> None:
    synapse = await connect_synapse(f"otel+{url}", service_name=name)
    dendrite = Dendrite(
        synapse=synapse, namespace=namespace, dendrite_id=name, role="worker", heartbeat_s=0
    )
    for neuron in neurons:
        dendrite.attach_axon(Axon(neuron, NEURONS[neuron]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        async with dendrite:
            say(f"{name} ready")
            await stop.wait()
    finally:
        await synapse.close()  # ends open spans and flushes them to the collector
    say(f"{name} flushed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
