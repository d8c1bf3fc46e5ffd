"""Durable work on a 3-node JetStream cluster with R3 streams: a node killed after the
TASKs were stored loses none of them (docs/transports/nats.md, "Durable work").

The node killed is the stream's leader when that is not the caller's server, otherwise a
replica; never the caller's own server, because replies are not durable: a caller that
fails over while a reply is in flight misses it (docs/transports/nats.md) and would wait
out its deadline. The worker is started after the kill, on a surviving node, so every
TASK it answers was read back from the surviving replicas.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cosmonapse import Dendrite, connect_synapse
from cosmonapse.synapses.jetstream import JetStreamSynapse

from tests.nats.helpers import eventually
from tests.nats.test_jetstream import NAMESPACE, WAIT_S, WORKER, runs
from tests.nats_servers import NatsCluster, NatsServer
from tests.reliability._procs.handles import Child, ProcessGroup

TASKS = 20


async def stream_ready(synapse: JetStreamSynapse) -> str:
    """Create the R3 stream once the cluster has a JetStream meta leader (bounded wait);
    return the server name of the stream's leader."""
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                stream = await synapse.ensure_stream(NAMESPACE)
                info = await synapse.js.stream_info(stream)
                if info.cluster is not None and info.cluster.leader:
                    return info.cluster.leader
            except Exception:  # no meta leader yet: the cluster is still electing
                pass
            await asyncio.sleep(0.2)


def victim(cluster: NatsCluster, caller_node: NatsServer, leader: str) -> NatsServer:
    others = [node for node in cluster.nodes if node is not caller_node]
    return next((node for node in others if node.name == leader), others[0])


async def test_a_killed_node_loses_no_stored_task(js_cluster: NatsCluster, tmp_path: Path) -> None:
    url = js_cluster.url.replace("nats://", "nats+js://")
    synapse = await connect_synapse(url, replicas=3, reconnect_time_wait=0.1)
    assert isinstance(synapse, JetStreamSynapse)
    procs = ProcessGroup(tmp_path)
    caller = Dendrite(synapse=synapse, namespace=NAMESPACE, heartbeat_s=0)
    try:
        leader = await stream_ready(synapse)
        async with caller:
            answers = [
                asyncio.ensure_future(
                    caller.dispatch_and_wait(neuron="crunch", input={"n": n}, timeout_s=WAIT_S)
                )
                for n in range(TASKS)
            ]
            # Each TASK is stored (a quorum acknowledged it) before its publish returns.
            await eventually(lambda: synapse.stats["stored"] >= TASKS, within=WAIT_S)
            assert synapse.connected_server is not None
            caller_node = js_cluster.node_at(synapse.connected_server)
            killed = victim(js_cluster, caller_node, leader)
            killed.kill()
            survivor = next(n for n in js_cluster.nodes if n is not killed)
            worker_url = survivor.url.replace("nats://", "nats+js://")
            worker = Child(
                "worker", [sys.executable, str(WORKER), worker_url, NAMESPACE, "answer"], tmp_path
            )
            procs.children.append(worker)
            await worker.spawn()
            replies = await asyncio.gather(*answers)
            assert sorted(r.payload["output"]["n"] for r in replies) == list(range(TASKS))
            assert all(runs(worker, n) == 1 for n in range(TASKS)), procs.dump()
            assert synapse.connected_server == f"127.0.0.1:{caller_node.port}"
    finally:
        await procs.close()
        await synapse.close()
