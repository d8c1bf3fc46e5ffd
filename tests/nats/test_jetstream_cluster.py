"""Durable work on a 3-node JetStream cluster with R3 streams: a node killed after the
TASKs were stored loses none of them (docs/transports/nats.md, "Durable work")."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cosmonapse import Dendrite, connect_synapse
from cosmonapse.exceptions import DurableWorkError
from cosmonapse.synapses.jetstream import JetStreamSynapse

from tests.nats.helpers import eventually
from tests.nats.test_jetstream import NAMESPACE, WAIT_S, WORKER, runs
from tests.nats_servers import NatsCluster
from tests.reliability._procs.handles import Child, ProcessGroup


async def stream_ready(synapse: JetStreamSynapse) -> None:
    """Wait (bounded) until the cluster has elected its JetStream leaders."""
    loop = asyncio.get_running_loop()
    until = loop.time() + WAIT_S
    while True:
        try:
            await synapse.ensure_stream(NAMESPACE)
            return
        except Exception:
            if loop.time() > until:
                raise
            await asyncio.sleep(0.2)  # the meta leader is being elected


async def test_a_killed_node_loses_no_stored_task(js_cluster: NatsCluster, tmp_path: Path) -> None:
    url = js_cluster.url.replace("nats://", "nats+js://")
    synapse = await connect_synapse(url, replicas=3, reconnect_time_wait=0.1)
    assert isinstance(synapse, JetStreamSynapse)
    procs = ProcessGroup(tmp_path)
    caller = Dendrite(synapse=synapse, namespace=NAMESPACE, heartbeat_s=0)
    try:
        await stream_ready(synapse)
        async with caller:
            answers = [
                asyncio.ensure_future(
                    caller.dispatch_and_wait(neuron="crunch", input={"n": n}, timeout_s=WAIT_S)
                )
                for n in range(20)
            ]
            await eventually(lambda: synapse.stats["stored"] >= 20, within=WAIT_S)
            js_cluster.nodes[0].kill()  # every stored TASK was acknowledged by a quorum
            worker_url = js_cluster.nodes[2].url.replace("nats://", "nats+js://")
            worker = Child(
                "worker", [sys.executable, str(WORKER), worker_url, NAMESPACE, "answer"], tmp_path
            )
            procs.children.append(worker)
            await worker.spawn()
            replies = await asyncio.gather(*answers)
            assert sorted(r.payload["output"]["n"] for r in replies) == list(range(20))
            assert all(runs(worker, n) == 1 for n in range(20)), procs.dump()
    finally:
        await procs.close()
        await synapse.close()
    assert DurableWorkError  # the error a caller sees when no quorum stores a TASK
