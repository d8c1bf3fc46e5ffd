"""STOP and stored work on ``nats+js://`` (docs/transports/nats.md, "Durable work"): a STOP
removes its trace's stored TASKs before it is published, and a host that starts later
knows the STOPs recorded before it (a watch on the stop bucket, loaded before it pulls).

Workers are real subprocesses (tests/reliability/_procs/js_worker.py) whose stdout says
which TASKs ran. Deadlines are hang guards only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from cosmonapse import Axon, Dendrite, NeuronContext, connect_synapse, new_trace_id
from cosmonapse.synapses.jetstream import JetStreamSynapse

from tests.nats.helpers import eventually
from tests.nats.test_jetstream import NAMESPACE, WAIT_S, Procs, ask, js_url, runs
from tests.nats_servers import NatsServer

pytest_plugins = ["tests.nats.test_jetstream"]  # the procs and caller fixtures


async def waiting(caller: Dendrite) -> int:
    synapse = caller.synapse
    assert isinstance(synapse, JetStreamSynapse)
    info = await synapse.js.stream_info(synapse.options.stream_name(NAMESPACE))
    return int(info.state.messages)


async def drained(caller: Dendrite) -> None:
    """Wait until the stream is empty (an ack follows its reply, so it may lag the reply)."""
    async with asyncio.timeout(WAIT_S):
        while await waiting(caller):  # noqa: ASYNC110 (nothing here is told of the acks)
            await asyncio.sleep(0.01)


@pytest.fixture
async def other(js_server: NatsServer) -> AsyncIterator[Dendrite]:
    """A second caller, on its own connection: it has not heard of the first one's STOPs."""
    synapse = await connect_synapse(js_url(js_server))
    dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, heartbeat_s=0)
    try:
        async with dendrite:
            yield dendrite
    finally:
        await synapse.close()


async def test_a_stop_removes_the_stored_tasks_of_its_trace_and_only_those(
    caller: Dendrite,
) -> None:
    trace = new_trace_id()
    for n in (1, 2):
        await caller.dispatch_task(neuron="crunch", input={"n": n}, trace_id=trace)
    await caller.dispatch_task(neuron="other", input={"n": 3}, trace_id=trace)
    await caller.dispatch_task(neuron="crunch", input={"n": 4})
    assert await waiting(caller) == 4
    await caller.stop_trace(trace)
    assert await waiting(caller) == 1  # no host was up: the STOP itself removed them


async def test_a_stop_of_one_attempt_leaves_the_later_attempt(
    js_server: NatsServer, caller: Dendrite, other: Dendrite, procs: Procs
) -> None:
    trace = new_trace_id()
    await caller.dispatch_task(neuron="crunch", input={"n": 1}, trace_id=trace, meta={"attempt": 1})
    await other.dispatch_task(neuron="crunch", input={"n": 2}, trace_id=trace, meta={"attempt": 2})
    await caller.stop_trace(trace, attempt=1)
    assert await waiting(caller) == 1
    worker = await procs.js_worker(js_url(js_server), "answer", name="worker")
    reply = await ask(caller, 3)  # pulled after the one left on the trace
    assert reply.payload["output"]["n"] == 3
    await worker.wait_for(r"^answered 2$")
    assert runs(worker, 1) == 0, procs.dump()


async def test_a_host_started_after_a_stop_never_runs_a_task_stored_after_it(
    js_server: NatsServer, caller: Dendrite, other: Dendrite, procs: Procs
) -> None:
    trace = new_trace_id()
    await caller.stop_trace(trace)  # nothing stored yet: only the stop record remains
    # Dispatched after the STOP by a Dendrite that never heard it: stored, not purged.
    await other.dispatch_task(neuron="crunch", input={"n": 1}, trace_id=trace)
    assert await waiting(caller) == 1
    worker = await procs.js_worker(js_url(js_server), "answer", name="late")
    reply = await ask(caller, 2)  # pulled after the stopped one
    assert reply.payload["output"]["n"] == 2
    assert runs(worker, 1) == 0, procs.dump()
    await drained(caller)  # the stopped one was terminated and deleted; n=2 acknowledged


async def test_a_task_stopped_while_its_host_is_full_is_never_pulled(
    js_server: NatsServer, caller: Dendrite
) -> None:
    """The host holds its one TASK (``max_in_flight=1``); the next one waits in the stream
    and is STOPped there; once the first is answered the host pulls again and never gets
    the stopped one."""
    started: list[int] = []
    release = asyncio.Event()

    async def crunch(input: Mapping[str, Any], context: NeuronContext) -> dict[str, Any]:
        started.append(input["n"])
        if input["n"] == 1:
            await asyncio.wait_for(release.wait(), WAIT_S)
        return {"n": input["n"]}

    synapse = await connect_synapse(js_url(js_server), max_in_flight=1)
    worker = Dendrite(synapse=synapse, namespace=NAMESPACE, role="worker", heartbeat_s=0)
    worker.attach_axon(Axon(neuron_id="crunch", neuron_fn=crunch))
    try:
        async with worker:
            first = asyncio.ensure_future(ask(caller, 1))
            await eventually(lambda: started == [1], within=WAIT_S)
            waiting_task = await caller.dispatch_task(neuron="crunch", input={"n": 2})
            assert await waiting(caller) == 2  # 1 held by the host, 2 not pulled: no room
            await caller.stop_trace(waiting_task.trace_id)
            assert await waiting(caller) == 1
            release.set()
            assert (await first).payload["output"] == {"n": 1}
            assert (await ask(caller, 3)).payload["output"] == {"n": 3}
            assert started == [1, 3]
    finally:
        await synapse.close()
