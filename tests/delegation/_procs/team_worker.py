"""One worker process of the delegation tests: hosts the neurons named on the command
line on the bus at URL, and prints one line per event (started / cancelled / answered).

    python team_worker.py URL NAMESPACE NAME researcher fact ping

``researcher`` delegates to ``fact`` twice, in parallel; ``fact`` waits until cancelled;
``ping`` answers at once (a probe through this process's connection).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from cosmonapse import Axon, Dendrite, connect_synapse


def say(line: str) -> None:
    print(line, flush=True)


async def researcher(input: dict[str, Any], context: Any, *, call: Any) -> Any:
    topic = input["topic"]
    say(f"started researcher {topic} {context.trace_id}")
    try:
        facts = await asyncio.gather(
            call(neuron="fact", input={"topic": f"{topic}1"}),
            call(neuron="fact", input={"topic": f"{topic}2"}),
        )
    except asyncio.CancelledError:
        say(f"cancelled researcher {topic} {context.trace_id}")
        raise
    return {"facts": facts}


async def fact(input: dict[str, Any], context: Any) -> Any:
    topic = input["topic"]
    say(f"started fact {topic} {context.trace_id} depth={context.task.meta.get('depth')}")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        say(f"cancelled fact {topic} {context.trace_id}")
        raise
    return {}


async def ping(input: dict[str, Any], context: Any) -> Any:
    return {"pong": True}


NEURONS = {"researcher": researcher, "fact": fact}


async def main(url: str, namespace: str, name: str, neurons: list[str]) -> None:
    synapse = await connect_synapse(url)
    dendrite = Dendrite(
        synapse=synapse, namespace=namespace, dendrite_id=name, role="worker", heartbeat_s=0
    )
    for neuron in neurons:
        fn = ping if neuron == "ping" else NEURONS[neuron]
        neuron_id = f"ping-{name}" if neuron == "ping" else neuron
        dendrite.attach_axon(Axon(neuron_id, fn))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        async with dendrite:
            say(f"{name} ready")
            await stop.wait()
    finally:
        await synapse.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
