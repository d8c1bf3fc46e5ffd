"""Dendrites over one real nats-server: a slow Neuron does not serialise its worker."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from cosmonapse import Axon, Dendrite, SignalType, connect_synapse

from tests.nats.helpers import eventually
from tests.nats_servers import NatsServer


async def test_a_slow_neuron_does_not_hold_up_the_next_task(nats_server: NatsServer) -> None:
    release = asyncio.Event()
    started: list[int] = []

    async def neuron(input: Mapping[str, Any], context: object) -> dict[str, Any]:
        started.append(input["n"])
        if input.get("hold"):
            await release.wait()
        return {"n": input["n"]}

    worker_bus = await connect_synapse(nats_server.url)
    caller_bus = await connect_synapse(nats_server.url)
    worker = Dendrite(synapse=worker_bus, namespace="slow", role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="w", neuron_fn=neuron))
    caller = Dendrite(synapse=caller_bus, namespace="slow", heartbeat_s=0)
    try:
        async with worker, caller:
            held = asyncio.create_task(
                caller.dispatch_and_wait(neuron="w", input={"n": 0, "hold": True}, timeout_s=30)
            )
            await eventually(lambda: started == [0])  # the held run is in progress
            quick = await caller.dispatch_and_wait(neuron="w", input={"n": 1}, timeout_s=10)
            assert quick.type is SignalType.AGENT_OUTPUT and quick.payload["output"] == {"n": 1}
            assert not held.done()
            release.set()
            slow = await asyncio.wait_for(held, 10)
            assert slow.payload["output"] == {"n": 0}
    finally:
        release.set()
        await caller_bus.close()
        await worker_bus.close()
