"""Interop with the published cosmonapse 0.1.14, both ways, on the dev synapse and on NATS.

(a) a published worker hosts an Axon and our Dendrite dispatches to it; (b) our worker
answers a published dispatcher; (c) our client works on the published dev synapse server.
Each is a loop of several TASKs addressed by neuron id, every answer checked for its
content and for who answered. The published side runs in its own venv (see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, Signal, SignalType, connect_synapse
from cosmonapse_cli.server import DevSynapseServer

from tests.interop.conftest import BUILD_TIMEOUT_S, Peer, StartPeer
from tests.nats_servers import NatsServer

# The first test of a session may build the published venv (conftest.py): give it the
# build's own deadline on top of the usual per-test one.
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 120)

NAMESPACE = "interop"
ROUNDS = 6
TASK_TIMEOUT_S = 20.0
PUBLISHED_COSMO = (
    "-c",
    "import sys; from cosmo.main import cli; sys.argv[0] = 'cosmo'; sys.exit(cli())",
)


@pytest.fixture(params=["dev", "nats"])
async def bus_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Our dev synapse server (in-process, a free port) or a real nats-server."""
    if request.param == "dev":
        async with DevSynapseServer("127.0.0.1", port=0) as server:
            yield server.url
    else:
        nats: NatsServer = request.getfixturevalue("nats_server")
        yield nats.url


async def _double(input: Mapping[str, Any], context: object) -> dict[str, Any]:
    n = int(input["n"])
    return {"n": n, "double": 2 * n, "by": "ours"}


async def _registered(url: str, neuron_id: str) -> tuple[Any, asyncio.Event]:
    """Watch the bus for the REGISTER of ``neuron_id``: a published Dendrite sends it
    after its subscriptions, on the same connection, so once seen its Axon is reachable."""
    bus = await connect_synapse(url)
    seen = asyncio.Event()

    async def on_register(subject: str, data: bytes) -> None:
        sig = Signal.decode(data)
        if sig.type is SignalType.REGISTER and sig.neuron == neuron_id:
            seen.set()

    await bus.subscribe(f"cosmonapse.{NAMESPACE}.REGISTER", on_register)
    return bus, seen


async def _wait(event: asyncio.Event, peer: Peer, what: str) -> None:
    try:
        await asyncio.wait_for(event.wait(), 30)
    except TimeoutError:
        pytest.fail(f"{what} did not happen within 30 s; {peer.context()}")


async def test_our_dendrite_dispatches_to_a_published_worker(
    bus_url: str, start_peer: StartPeer
) -> None:
    watcher, registered = await _registered(bus_url, "pub-double")
    bus = await connect_synapse(bus_url)
    try:
        worker = await start_peer(
            "published worker", "published_worker.py", bus_url, NAMESPACE, "pub-double"
        )
        assert await worker.wait_for_line(lambda line: line == "READY") == "READY"
        await _wait(registered, worker, "the published worker's REGISTER")
        caller = Dendrite(synapse=bus, namespace=NAMESPACE, heartbeat_s=0)
        async with caller:
            for n in range(ROUNDS):
                try:
                    reply = await caller.dispatch_and_wait(
                        neuron="pub-double", input={"n": n}, timeout_s=TASK_TIMEOUT_S
                    )
                except TimeoutError:
                    pytest.fail(f"TASK {n}: no answer; {worker.context()}")
                assert reply.type is SignalType.AGENT_OUTPUT, (reply, worker.context())
                assert reply.payload["output"] == {"n": n, "double": 2 * n, "by": "pub-double"}
                assert reply.neuron == "pub-double"
    finally:
        await bus.close()
        await watcher.close()


async def test_a_published_dispatcher_gets_answers_from_our_worker(
    bus_url: str, start_peer: StartPeer
) -> None:
    bus = await connect_synapse(bus_url)
    try:
        worker = Dendrite(synapse=bus, namespace=NAMESPACE, role="worker", heartbeat_s=0)
        worker.attach_axon(Axon(neuron_id="our-double", neuron_fn=_double))
        async with worker:
            dispatcher = await start_peer(
                "published dispatcher",
                "published_dispatcher.py",
                bus_url,
                NAMESPACE,
                "our-double",
                str(ROUNDS),
            )
            assert await dispatcher.wait_for_line(lambda line: line == "READY") == "READY"
            await dispatcher.send("go\n")
            answers = [json.loads(await dispatcher.line(TASK_TIMEOUT_S)) for _ in range(ROUNDS)]
            assert await dispatcher.line() == "DONE"
    finally:
        await bus.close()
    for n, answer in enumerate(answers):
        assert answer["n"] == n
        assert answer["type"] == "AGENT_OUTPUT", answer
        assert answer["output"] == {"n": n, "double": 2 * n, "by": "ours"}
        assert answer["by"] == "our-double"
        assert answer["parent_id"], answer


async def test_our_client_on_the_published_dev_synapse_server(start_peer: StartPeer) -> None:
    server = await start_peer(
        "published dev synapse",
        *PUBLISHED_COSMO,
        "synapse",
        "start",
        "memory",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--namespace",
        NAMESPACE,
        stdin_stops=False,
    )
    banner = await server.wait_for_line(lambda line: "cosmo://" in line)
    found = re.search(r"cosmo://127\.0\.0\.1:\d+", banner)
    assert found, banner
    url = found.group(0)
    drain = asyncio.create_task(server.drain())  # it prints every Signal; keep the pipe empty
    worker_bus = await connect_synapse(url)
    caller_bus = await connect_synapse(url)
    try:
        worker = Dendrite(synapse=worker_bus, namespace=NAMESPACE, role="worker", heartbeat_s=0)
        worker.attach_axon(Axon(neuron_id="our-double", neuron_fn=_double))
        caller = Dendrite(synapse=caller_bus, namespace=NAMESPACE, heartbeat_s=0)
        async with worker, caller:
            for n in range(ROUNDS):
                try:
                    reply = await caller.dispatch_and_wait(
                        neuron="our-double", input={"n": n}, timeout_s=TASK_TIMEOUT_S
                    )
                except TimeoutError:
                    pytest.fail(f"TASK {n}: no answer; {server.context()}")
                assert reply.type is SignalType.AGENT_OUTPUT, (reply, server.context())
                assert reply.payload["output"] == {"n": n, "double": 2 * n, "by": "ours"}
                assert reply.neuron == "our-double"
        assert worker_bus.stats["skipped_lines"] == 0
        assert caller_bus.stats["server_errors"] == 0
    finally:
        await caller_bus.close()
        await worker_bus.close()
        drain.cancel()
