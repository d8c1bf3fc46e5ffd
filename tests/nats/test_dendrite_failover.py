"""A worker Dendrite keeps serving when the NATS node it is attached to is killed mid-run.

Three nodes with routes. The worker (hosting an Axon) is attached to one node, the
orchestrator to another. While TASKs are being dispatched, the worker's node is killed:
its client fails over to a surviving node and re-subscribes. TASKs in flight at that
moment may be lost (core NATS is at-most-once); every TASK dispatched after the worker's
subscriptions are back in the cluster must be answered.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

from cosmonapse import (
    Axon,
    Dendrite,
    DispatchTimeoutError,
    Signal,
    SignalType,
    connect_synapse,
)
from cosmonapse.subjects import routed_task_subject, signal_subject
from cosmonapse.synapses.nats import NatsSynapse

from tests.nats.helpers import eventually, reconnected
from tests.nats_servers import NatsCluster

NAMESPACE = "failover"


async def echo(input: Mapping[str, Any], context: object) -> dict[str, Any]:
    await asyncio.sleep(0.005)  # a Neuron that takes a moment, so some runs are in flight
    return {"n": input["n"], "by": "echo"}


async def open_nats(url: str) -> NatsSynapse:
    synapse = await connect_synapse(url, reconnect_time_wait=0.1)
    assert isinstance(synapse, NatsSynapse)
    return synapse


async def test_every_task_dispatched_after_the_reconnect_is_answered(
    nats_cluster: NatsCluster,
) -> None:
    worker_node, _, orchestrator_node = nats_cluster.nodes
    worker_bus = await open_nats(worker_node.url)  # told about its own node only
    orchestrator_bus = await open_nats(orchestrator_node.url)
    worker = Dendrite(synapse=worker_bus, namespace=NAMESPACE, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo, capabilities=["echo"]))
    orchestrator = Dendrite(synapse=orchestrator_bus, namespace=NAMESPACE, heartbeat_s=0)

    @orchestrator.on_agent_output
    async def _seen(signal: Signal) -> None:  # subscribes to replies from start()
        pass

    counter = itertools.count()
    recovered = asyncio.Event()  # set once the worker's interest is back on every node
    after: list[tuple[int, bool]] = []  # (n, answered) for TASKs sent after recovery
    during = {"answered": 0, "lost": 0}

    async def dispatch(by_capability: bool, timeout_s: float) -> tuple[int, bool]:
        n = next(counter)
        target: dict[str, Any] = {"capabilities": ["echo"]} if by_capability else {"neuron": "echo"}
        try:
            reply = await orchestrator.dispatch_and_wait(
                input={"n": n}, timeout_s=timeout_s, **target
            )
        except DispatchTimeoutError:
            return n, False
        assert reply.type is SignalType.AGENT_OUTPUT
        assert reply.neuron == "echo" and reply.payload["output"] == {"n": n, "by": "echo"}
        return n, True

    async def keep_dispatching(lane: int) -> None:
        while True:
            sent_after = recovered.is_set()
            n, answered = await dispatch(by_capability=lane % 2 == 1, timeout_s=3.0)
            if sent_after:
                after.append((n, answered))
                if len(after) >= 40:
                    return
            else:
                during["answered" if answered else "lost"] += 1

    lanes: list[asyncio.Task[None]] = []
    try:
        await worker.start()
        await orchestrator.start()
        for subject in (
            signal_subject(NAMESPACE, "TASK"),
            routed_task_subject(NAMESPACE),
            signal_subject(NAMESPACE, "AGENT_OUTPUT"),
        ):
            await asyncio.to_thread(nats_cluster.wait_for_interest, subject)

        lanes += [asyncio.create_task(keep_dispatching(lane)) for lane in range(8)]
        await eventually(lambda: during["answered"] >= 20)  # mid-run

        worker_node.kill()
        await reconnected(worker_bus)
        assert worker_bus.connected_server != f"127.0.0.1:{worker_node.port}"
        for subject in (signal_subject(NAMESPACE, "TASK"), routed_task_subject(NAMESPACE)):
            await asyncio.to_thread(nats_cluster.wait_for_interest, subject)
        recovered.set()

        await asyncio.wait_for(asyncio.gather(*lanes), 60)
        assert len(after) >= 40
        assert all(answered for _, answered in after), [n for n, ok in after if not ok]

        # And a burst of fresh TASKs, by id and by capability, all answered.
        burst = await asyncio.gather(
            *(dispatch(by_capability=i % 2 == 1, timeout_s=10.0) for i in range(40))
        )
        assert all(answered for _, answered in burst)
        assert worker_bus.stats["reconnects"] == 1
    finally:
        for lane in lanes:
            lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        await orchestrator.stop()
        await worker.stop()
        await orchestrator_bus.close()
        await worker_bus.close()
