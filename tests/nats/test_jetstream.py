"""Durable work on ``nats+js://`` against a real nats-server with JetStream
(docs/transports/nats.md, "Durable work").

Workers are real subprocesses (tests/reliability/_procs/js_worker.py) killed with SIGKILL;
their stdout is the evidence of which TASKs ran where. Deadlines are hang guards only.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cosmonapse import Dendrite, Signal, connect_synapse
from cosmonapse.synapses.jetstream import JetStreamSynapse

from tests.nats.helpers import eventually
from tests.nats_servers import NatsServer
from tests.reliability._procs.handles import Child, ProcessGroup

NAMESPACE = "durable"
WORKER = Path(__file__).parents[1] / "reliability" / "_procs" / "js_worker.py"
WAIT_S = 60.0  # a hang guard for each answer


def js_url(server: NatsServer) -> str:
    return server.url.replace("nats://", "nats+js://")


class Procs(ProcessGroup):
    async def js_worker(self, url: str, mode: str, *, name: str) -> Child:
        child = Child(name, [sys.executable, str(WORKER), url, NAMESPACE, mode], self.log_dir)
        self.children.append(child)
        await child.spawn()
        await child.wait_for(rf"^ready {child.pid}$")
        return child


@pytest.fixture
async def procs(tmp_path: Path) -> AsyncIterator[Procs]:
    group = Procs(tmp_path)
    try:
        yield group
    finally:
        await group.close()


@pytest.fixture
async def caller(js_server: NatsServer) -> AsyncIterator[Dendrite]:
    synapse = await connect_synapse(js_url(js_server), reconnect_time_wait=0.1)
    assert isinstance(synapse, JetStreamSynapse)
    dendrite = Dendrite(synapse=synapse, namespace=NAMESPACE, heartbeat_s=0)
    try:
        async with dendrite:
            yield dendrite
    finally:
        await synapse.close()


def runs(child: Child, n: int) -> int:
    return sum(1 for line in child.stdout().splitlines() if line.startswith(f"started {n} "))


async def ask(caller: Dendrite, n: int) -> Signal:
    return await caller.dispatch_and_wait(neuron="crunch", input={"n": n}, timeout_s=WAIT_S)


def stored(caller: Dendrite) -> int:
    synapse = caller.synapse
    assert isinstance(synapse, JetStreamSynapse)
    return synapse.stats["stored"]


async def test_a_task_whose_worker_is_killed_mid_run_is_answered_by_another(
    js_server: NatsServer, caller: Dendrite, procs: Procs
) -> None:
    url = js_url(js_server)
    doomed = await procs.js_worker(url, "hold", name="doomed")
    answer = asyncio.ensure_future(ask(caller, 1))
    await doomed.wait_for(r"^started 1 ")
    await doomed.kill()  # SIGKILL: no nak, no DEREGISTER
    survivor = await procs.js_worker(url, "answer", name="survivor")
    reply = await answer
    assert reply.payload["output"] == {"pid": survivor.pid, "n": 1}
    assert runs(survivor, 1) == 1, procs.dump()


async def test_tasks_dispatched_before_any_worker_all_run_once_it_starts(
    js_server: NatsServer, caller: Dendrite, procs: Procs
) -> None:
    answers = [asyncio.ensure_future(ask(caller, n)) for n in range(50)]
    await eventually(lambda: stored(caller) >= 50, within=WAIT_S)
    worker = await procs.js_worker(js_url(js_server), "answer", name="late")
    replies = await asyncio.gather(*answers)
    assert sorted(r.payload["output"]["n"] for r in replies) == list(range(50))
    assert all(runs(worker, n) == 1 for n in range(50)), procs.dump()


async def test_a_trace_stopped_while_its_task_waits_never_runs(
    js_server: NatsServer, caller: Dendrite, procs: Procs
) -> None:
    waiting = await caller.dispatch_task(neuron="crunch", input={"n": 1})
    await caller.stop_trace(waiting.trace_id)
    worker = await procs.js_worker(js_url(js_server), "answer", name="worker")
    # A later TASK on the same consumer is pulled after the stopped one: once it is
    # answered, the stopped one was seen and removed.
    reply = await ask(caller, 2)
    assert reply.payload["output"]["n"] == 2
    assert runs(worker, 1) == 0, procs.dump()
    synapse = caller.synapse
    assert isinstance(synapse, JetStreamSynapse)
    stream = synapse.options.stream_name(NAMESPACE)

    async def stored_now() -> int:
        return int((await synapse.js.stream_info(stream)).state.messages)

    async with asyncio.timeout(WAIT_S):  # the ack of n=2 follows its reply
        while await stored_now():  # noqa: ASYNC110 (nothing here is told of the acks)
            await asyncio.sleep(0.01)


async def test_tasks_waiting_across_a_server_restart_are_all_answered(
    js_server: NatsServer, caller: Dendrite, procs: Procs
) -> None:
    answers = [asyncio.ensure_future(ask(caller, n)) for n in range(10)]
    await eventually(lambda: stored(caller) >= 10, within=WAIT_S)
    js_server.restart()  # SIGKILL, then the same port and store directory
    worker = await procs.js_worker(js_url(js_server), "answer", name="after-restart")
    replies = await asyncio.gather(*answers)
    assert sorted(r.payload["output"]["n"] for r in replies) == list(range(10))
    assert all(runs(worker, n) == 1 for n in range(10)), procs.dump()


async def test_a_worker_stopped_cleanly_hands_back_its_held_task(
    js_server: NatsServer, caller: Dendrite, procs: Procs
) -> None:
    url = js_url(js_server)
    first = await procs.js_worker(url, "hold", name="first")
    answer = asyncio.ensure_future(ask(caller, 7))
    await first.wait_for(r"^started 7 ")
    await first.finish(signal.SIGTERM)
    second = await procs.js_worker(url, "answer", name="second")
    reply = await answer
    assert reply.payload["output"] == {"pid": second.pid, "n": 7}


async def test_view_shows_the_stream_and_consumer_state(
    js_server: NatsServer, caller: Dendrite, procs: Procs
) -> None:
    from cosmonapse.synapses._js_state import jetstream_state

    await procs.js_worker(js_url(js_server), "answer", name="worker")
    await ask(caller, 1)
    rows = await jetstream_state(js_server.url, NAMESPACE)
    assert [(r["stream"], r["consumer"]) for r in rows] == [
        ("cosmonapse_durable_tasks", "task_crunch")
    ]
    assert rows[0]["pending"] == 0
