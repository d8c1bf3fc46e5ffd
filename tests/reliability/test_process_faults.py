"""Process faults against real processes, each over the dev synapse (``cosmo synapse start
memory``) and over nats-server: a worker killed mid-task, and a bus that crashes and comes
back on the same port.

Covered elsewhere, and not repeated here:

* tests/dev_synapse/test_client.py: the ``cosmo://`` client alone reconnects and replays
  its subscriptions when an in-process server is closed and another one takes its port.
* tests/nats/test_failover.py: the NATS client alone survives a SIGKILLed nats-server
  restarted on the same port; tests/nats/test_dendrite_failover.py: a worker Dendrite
  fails over to another node of a cluster when its node is killed.

Here the server really crashes (SIGKILL of its process) and the assertions are made at
the Dendrite level: TASKs are answered and a Doppler-style observer hears Signals again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    NeuronContext,
    RetryStrategy,
    Signal,
    SignalType,
    Synapse,
    connect_synapse,
)
from cosmonapse.subjects import namespace_wildcard, routed_task_subject, signal_subject
from cosmonapse.synapses.dev import DevSynapse
from cosmonapse.synapses.nats import NatsSynapse

from tests.nats_servers import NatsServer
from tests.reliability._procs.handles import DevSynapseProcess, ProcessGroup, WorkerProcess

WAIT_S = 30.0  # hang guard for anything that should happen "soon" on a loaded box


@pytest.fixture
async def procs(tmp_path: Path) -> AsyncIterator[ProcessGroup]:
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        await group.close()


async def eventually(condition: Callable[[], bool], *, within: float = WAIT_S) -> None:
    """Poll until ``condition()`` holds; TimeoutError after ``within`` seconds."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 (state of other processes has no event)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), within)


async def eventually_async(
    condition: Callable[[], Awaitable[bool]], *, within: float = WAIT_S
) -> None:
    async def poll() -> None:
        while not await condition():  # noqa: ASYNC110 (asks another process each time)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), within)


class Observer:
    """A Doppler-style handler: records every Signal of a namespace as (type, trace)."""

    def __init__(self) -> None:
        self.seen: list[tuple[SignalType, str]] = []

    async def __call__(self, subject: str, data: bytes) -> None:
        signal = Signal.decode(data)
        self.seen.append((signal.type, signal.trace_id))

    def index(self, kind: SignalType, trace_id: str) -> int:
        return self.seen.index((kind, trace_id))

    async def wait_for(self, kind: SignalType, trace_id: str) -> None:
        await eventually(lambda: (kind, trace_id) in self.seen)


# -- the buses: a process that can crash and start again on its port ---------------------


class CosmoBus:
    """The dev synapse (``cosmo synapse start memory``) in its own process."""

    def __init__(self, server: DevSynapseProcess) -> None:
        self.server = server
        self.url = server.url
        # request_timeout: how long a publish waits for the reconnect; a loaded box may
        # take seconds to start the new server process.
        self.options: dict[str, Any] = {
            "reconnect_delay": 0.05,
            "reconnect_max_delay": 0.5,
            "request_timeout": WAIT_S,
        }

    async def crash(self) -> None:
        assert await self.server.kill() == -9

    async def start_again(self) -> None:
        await self.server.start()
        assert self.server.url == self.url

    def down(self, synapse: Synapse) -> bool:
        assert isinstance(synapse, DevSynapse)
        return not synapse.connected

    def back(self, synapse: Synapse) -> bool:
        assert isinstance(synapse, DevSynapse)
        return synapse.connected and synapse.stats["reconnects"] == 1

    async def members(self, namespace: str, control: Synapse) -> int:
        """Connections holding a subscription in ``namespace`` (``mgmt_info``)."""
        assert isinstance(control, DevSynapse)
        return int((await control.namespace_info(namespace))["subscribers"])

    async def settled(self, synapses: Iterable[Synapse], subjects: Iterable[str]) -> None:
        """Each client's replayed subscriptions are in place: a ping sent after them has
        come back (the server handles a connection's lines in order)."""
        for synapse in synapses:
            assert isinstance(synapse, DevSynapse)
            await synapse.flush()


class NatsBus:
    """A real nats-server in its own process."""

    def __init__(self, server: NatsServer) -> None:
        self.server = server
        self.url = server.url
        self.options: dict[str, Any] = {"reconnect_time_wait": 0.1}

    async def crash(self) -> None:
        self.server.kill()

    async def start_again(self) -> None:
        port = self.server.port
        await asyncio.to_thread(self.server.start)
        assert self.server.port == port

    def down(self, synapse: Synapse) -> bool:
        assert isinstance(synapse, NatsSynapse)
        return synapse.connected_server is None

    def back(self, synapse: Synapse) -> bool:
        assert isinstance(synapse, NatsSynapse)
        return synapse.connected_server is not None and synapse.stats["reconnects"] == 1

    async def members(self, namespace: str, control: Synapse) -> int:
        """Client connections of the server (its monitoring port says so)."""
        return await asyncio.to_thread(self.server.client_count)

    async def settled(self, synapses: Iterable[Synapse], subjects: Iterable[str]) -> None:
        """The new server knows a subscription for each subject (its monitoring says so)."""
        wanted = list(subjects)

        async def known() -> bool:
            found = [await asyncio.to_thread(self.server.has_interest, s) for s in wanted]
            return all(found)

        await eventually_async(known)


Bus = CosmoBus | NatsBus


@pytest.fixture(params=["cosmo", "nats"])
async def bus(request: pytest.FixtureRequest, procs: ProcessGroup) -> AsyncIterator[Bus]:
    """A bus in its own process: ``cosmo synapse start memory``, or nats-server."""
    if request.param == "cosmo":
        yield CosmoBus(await procs.dev_synapse())
        return
    with NatsServer() as server:
        yield NatsBus(server)


# -- a worker killed mid-task ------------------------------------------------------------

FAULT_NS = "faults"


async def _first_to_start(workers: list[WorkerProcess]) -> tuple[WorkerProcess, str]:
    """The worker that printed ``started <trace> 1`` and that trace."""
    pattern = r"^started (trc_\w+) 1$"
    found: list[tuple[WorkerProcess, str]] = []

    def started() -> bool:
        for worker in workers:
            match = worker.find(pattern)
            if match is not None:
                found.append((worker, match.group(1)))
                return True
        return False

    await eventually(started)
    return found[0]


@pytest.mark.parametrize("how", ["cancelled", "timeout_s"])
async def test_a_caller_that_stops_waiting_stops_the_neuron_in_the_worker_process(
    bus: Bus, procs: ProcessGroup, how: str
) -> None:
    """The caller gives up (its task cancelled, as ``asyncio.timeout`` or a task group
    does, or its own ``timeout_s``): the worker process, which holds every TASK until
    released, sees its Neuron run cancelled instead of running on unseen."""
    worker = await procs.worker(bus.url, FAULT_NS, name="worker")
    synapse = await connect_synapse(bus.url)
    caller = Dendrite(synapse=synapse, namespace=FAULT_NS, dendrite_id="caller", heartbeat_s=0)
    try:
        async with caller:
            call = caller.dispatch_and_wait(
                neuron="crunch", input={"x": 1}, timeout_s=WAIT_S if how != "timeout_s" else 1.0
            )
            if how == "cancelled":

                async def give_up_once_started() -> None:
                    task = asyncio.ensure_future(call)
                    await eventually(lambda: worker.find(r"^started trc_\w+ 1$") is not None)
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

                await give_up_once_started()
            else:
                with pytest.raises(TimeoutError):
                    await call
            started = worker.find(r"^started (trc_\w+) 1$")
            assert started is not None, procs.dump()
            trace = started.group(1)
            await eventually(lambda: worker.find(rf"^cancelled {trace} 1$") is not None)
        assert not worker.find(r"^answered "), procs.dump()
    finally:
        await synapse.close()
        await procs.close()


async def test_a_worker_killed_mid_task_is_replaced_by_the_retry_on_the_other_worker(
    bus: Bus, procs: ProcessGroup
) -> None:
    """Two worker processes host Neuron ``crunch`` in the ``caps:crunch`` queue group. The
    one that starts attempt 1 is SIGKILLed while it runs it. The retry (a fresh trace,
    after the abandoned one is STOPped) is answered by the other process.

    Both workers hold every TASK until released, and only the survivor is released, so
    the answer can only come from the survivor, whatever attempt reaches it."""
    workers = list(
        await asyncio.gather(
            procs.worker(bus.url, FAULT_NS, name="worker-a"),
            procs.worker(bus.url, FAULT_NS, name="worker-b"),
        )
    )
    control = await connect_synapse(bus.url)
    orchestrator_bus = await connect_synapse(bus.url)
    orchestrator = Dendrite(
        synapse=orchestrator_bus, namespace=FAULT_NS, dendrite_id="orchestrator", heartbeat_s=0
    )
    observer = Observer()
    retried: list[int] = []
    try:
        await control.subscribe(namespace_wildcard(FAULT_NS), observer)
        await orchestrator.start()
        strategy = RetryStrategy(
            max_attempts=10, timeout_s=2.0, on_retry=lambda attempt, _: retried.append(attempt)
        )
        run = asyncio.create_task(
            orchestrator.run_with_retry(capabilities=["crunch"], input={"x": 21}, retry=strategy)
        )
        try:
            victim, first_trace = await _first_to_start(workers)
            survivor = workers[1 - workers.index(victim)]
            before = await bus.members(FAULT_NS, control)
            assert await victim.kill() == -9
            # The server drops the dead member from the queue group once it sees the
            # socket close; from then on every routed TASK goes to the survivor.
            await eventually_async(lambda: _equals(bus.members(FAULT_NS, control), before - 1))
            survivor.release()
            reply = await asyncio.wait_for(run, 60)
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
    finally:
        await orchestrator.stop()
        await orchestrator_bus.close()
        await control.close()
        await procs.close()  # the workers go while their bus is still up

    assert reply.type is SignalType.AGENT_OUTPUT, (reply, procs.dump())
    output = reply.payload["output"]
    assert output["doubled"] == 42
    assert output["pid"] == survivor.pid != victim.pid
    assert output["attempt"] >= 2 and reply.meta.get("attempt") == output["attempt"]
    assert reply.trace_id != first_trace
    assert retried[0] == 1 and len(retried) == output["attempt"] - 1
    # The victim ran attempt 1 and never answered; the survivor answered the last attempt.
    assert victim.find(rf"^started {first_trace} 1$") and not victim.find(r"^answered ")
    assert survivor.find(rf"^answered {reply.trace_id} {output['attempt']}$")
    # The abandoned attempt was STOPped before the attempt that succeeded was dispatched.
    await observer.wait_for(SignalType.AGENT_OUTPUT, reply.trace_id)
    assert observer.index(SignalType.STOP, first_trace) < observer.index(
        SignalType.TASK, reply.trace_id
    )


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


# -- the bus crashes and comes back on the same port -----------------------------------

RESTART_NS = "restart"


async def echo(input: Mapping[str, Any], context: NeuronContext) -> dict[str, Any]:
    return {"echo": input["word"], "trace": context.trace_id}


async def test_dendrites_reconnect_and_resubscribe_after_the_bus_crashes(
    bus: Bus,
) -> None:
    """A worker Dendrite (with an Axon), an orchestrator and a Doppler-style observer, each
    on its own connection. The bus process is SIGKILLed and a new one starts on the same
    port. Without any help each client reconnects once and replays its subscriptions: a
    TASK dispatched while the bus was down (with retries) is answered, TASKs dispatched
    after it are answered at once, by neuron id and by capability, and the observer hears
    them all."""
    synapses = [await connect_synapse(bus.url, **bus.options) for _ in range(3)]
    worker_bus, orchestrator_bus, observer_bus = synapses
    worker = Dendrite(
        synapse=worker_bus, namespace=RESTART_NS, dendrite_id="worker", role="worker", heartbeat_s=0
    )
    worker.attach_axon(Axon(neuron_id="echo", neuron_fn=echo, capabilities=["echo"]))
    orchestrator = Dendrite(
        synapse=orchestrator_bus, namespace=RESTART_NS, dendrite_id="orchestrator", heartbeat_s=0
    )
    observer = Observer()
    pending: asyncio.Task[Signal] | None = None
    try:
        await observer_bus.subscribe(namespace_wildcard(RESTART_NS), observer)
        await worker.start()
        await orchestrator.start()
        before = await orchestrator.dispatch_and_wait(
            neuron="echo", input={"word": "before"}, timeout_s=WAIT_S
        )
        assert before.payload["output"]["echo"] == "before"
        await observer.wait_for(SignalType.AGENT_OUTPUT, before.trace_id)

        await bus.crash()
        await eventually(lambda: all(bus.down(s) for s in synapses))
        # Dispatched while nothing listens: the TASK waits for the reconnect (or is lost
        # in flight, the transports are at-most-once) and the retry covers the rest.
        pending = asyncio.create_task(
            orchestrator.run_with_retry(
                neuron="echo",
                input={"word": "during"},
                retry=RetryStrategy(max_attempts=5, timeout_s=3.0),
            )
        )
        await bus.start_again()
        await eventually(lambda: all(bus.back(s) for s in synapses))
        await bus.settled(
            synapses,
            [
                signal_subject(RESTART_NS, "TASK"),
                routed_task_subject(RESTART_NS),
                signal_subject(RESTART_NS, "AGENT_OUTPUT"),
            ],
        )

        during = await asyncio.wait_for(pending, 60)
        assert during.type is SignalType.AGENT_OUTPUT
        assert during.payload["output"]["echo"] == "during"
        by_id = await orchestrator.dispatch_and_wait(
            neuron="echo", input={"word": "after"}, timeout_s=WAIT_S
        )
        by_caps = await orchestrator.dispatch_and_wait(
            capabilities=["echo"], input={"word": "routed"}, timeout_s=WAIT_S
        )
        assert by_id.payload["output"]["echo"] == "after"
        assert by_caps.payload["output"]["echo"] == "routed"
        assert during.neuron == by_id.neuron == by_caps.neuron == "echo"
        # The observer hears everything published once its subscription is back. (What
        # was published while it was being replayed may be missed: at-most-once.)
        for reply in (by_id, by_caps):
            await observer.wait_for(SignalType.TASK, reply.trace_id)
            await observer.wait_for(SignalType.AGENT_OUTPUT, reply.trace_id)
        # One crash, one reconnect each: nobody reconnected twice or gave up.
        assert [s.stats["reconnects"] for s in synapses] == [1, 1, 1]
        assert not any(s.closed for s in synapses)
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        await orchestrator.stop()
        await worker.stop()
        for synapse in synapses:
            await synapse.close()
