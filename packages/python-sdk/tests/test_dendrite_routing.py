"""Dendrite: dispatching, routing by id and by capabilities, decorators, the role gate,
Neuron failures, timeouts and bad frames."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    CosmonapseDeprecationWarning,
    Dendrite,
    DendriteStateError,
    Directed,
    DispatchTimeoutError,
    MemoryRegistryStore,
    MemorySynapse,
    NeuronContext,
    NeuronError,
    NoCapableNeuronError,
    RoleError,
    Signal,
    SignalType,
    new_trace_id,
    route_of,
)
from cosmonapse.builders import (
    agent_output_signal,
    error_signal,
    heartbeat_signal,
    task_signal,
)
from cosmonapse.subjects import routed_task_subject, signal_subject

from .conftest import HANG_GUARD_S, Bus, eventually

NS = "routing"


def worker(synapse: Any, dendrite_id: str, *axons: Axon, **options: Any) -> Dendrite:
    d = Dendrite(
        synapse=synapse,
        namespace=NS,
        dendrite_id=dendrite_id,
        role="worker",
        heartbeat_s=0,
        **options,
    )
    for axon in axons:
        d.attach_axon(axon)
    return d


def orchestrator(synapse: Any, dendrite_id: str = "boss", **options: Any) -> Dendrite:
    return Dendrite(
        synapse=synapse,
        namespace=NS,
        dendrite_id=dendrite_id,
        role="orchestrator",
        heartbeat_s=0,
        **options,
    )


async def echo(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
    return {"echo": input, "by": context.neuron_id, "node": context.node}


# -- dispatch_and_wait -------------------------------------------------------------------


async def test_dispatch_and_wait_by_neuron_and_by_capabilities(bus: Bus) -> None:
    w = worker(await bus.connect(), "w1", Axon("echo", echo, capabilities=["say", "shout"]))
    boss = orchestrator(await bus.connect())
    async with w, boss:
        by_id = await boss.dispatch_and_wait(neuron="echo", input={"n": 1}, timeout_s=HANG_GUARD_S)
        by_caps = await boss.dispatch_and_wait(
            capabilities=["shout"], input={"n": 2}, timeout_s=HANG_GUARD_S
        )
        by_all_caps = await boss.dispatch_and_wait(
            capabilities=["shout", "say"], input={"n": 3}, timeout_s=HANG_GUARD_S
        )
    for reply, n in ((by_id, 1), (by_caps, 2), (by_all_caps, 3)):
        assert reply.type is SignalType.AGENT_OUTPUT
        assert reply.neuron == "echo"
        assert reply.payload["output"] == {"echo": {"n": n}, "by": "echo", "node": "w1"}
        assert reply.meta["node"] == "w1"
        assert reply.parent_id is not None and reply.parent_id.startswith("evt_")
    assert by_caps.directed is not None and by_caps.directed.capabilities == ["say", "shout"]


async def test_dispatch_keeps_the_given_trace_and_parent(memory: MemorySynapse) -> None:
    w = worker(memory, "w1", Axon("echo", echo))
    boss = orchestrator(memory)
    tasks: list[Signal] = []

    @boss.on_signal(SignalType.TASK)
    async def _seen(task: Signal) -> None:
        tasks.append(task)

    trace_id = new_trace_id()
    parent = Signal(type=SignalType.PLAN, trace_id=trace_id)
    async with w, boss:
        reply = await boss.dispatch_and_wait(
            neuron="echo",
            input={},
            trace_id=trace_id,
            parent_id=parent.id,
            meta={"attempt": 4, "model": "m"},
            timeout_s=HANG_GUARD_S,
        )
        await eventually(lambda: len(tasks) == 1)
    task = tasks[0]
    assert task.trace_id == reply.trace_id == trace_id
    assert task.parent_id == parent.id
    # The sender adds its node, and its wait as the run's deadline (ms on the wire).
    sent = {"attempt": 4, "model": "m", "node": boss.dendrite_id, "deadline_ms": 10_000}
    assert task.meta == sent
    assert reply.parent_id == task.id
    assert reply.meta["attempt"] == 4  # the attempt travels back on the reply


async def test_dispatch_task_returns_the_task_it_sent(memory: MemorySynapse) -> None:
    host = worker(memory, "host", Axon("ab", echo, ["a", "b", "c"]))
    boss = orchestrator(memory)
    async with host, boss:
        task = await boss.dispatch_task(neuron="x", input={"a": 1}, context_ref="ctx-1")
        routed = await boss.dispatch_task(capabilities=["b", "a", "b"], input={})
        with pytest.raises(ValueError, match="neuron= or capabilities="):
            await boss.dispatch_task(input={})
    assert task.type is SignalType.TASK and task.neuron == "x"
    assert task.payload == {"input": {"a": 1}, "context_ref": "ctx-1"}
    assert task.parent_id is None  # a root TASK
    # addressed to the covering host it picked, the capabilities kept for observers
    assert routed.directed == Directed("ab", None, ["a", "b"])
    assert routed.payload["capabilities"] == ["a", "b"]


async def test_routed_tasks_travel_on_the_routed_subject(memory: MemorySynapse) -> None:
    subjects: list[str] = []

    async def spy(subject: str, data: bytes) -> None:
        if Signal.decode(data).type is SignalType.TASK:
            subjects.append(subject)

    await memory.subscribe(f"cosmonapse.{NS}.>", spy)
    host = worker(memory, "host", Axon("c-host", echo, ["c"]))
    boss = orchestrator(memory)
    async with host, boss:
        await boss.dispatch_task(neuron="x", input={})
        # a capability TASK built by hand (as a published-protocol dispatcher sends it)
        await boss.publish(task_signal(capabilities=["c"], input={}))
        # ours: addressed to the host picked from membership, on the broadcast subject
        await boss.dispatch_task(capabilities=["c"], input={})
        await eventually(lambda: len(subjects) == 3)
    assert subjects == [
        signal_subject(NS, "TASK"),
        routed_task_subject(NS),
        signal_subject(NS, "TASK"),
    ]


async def test_dispatch_and_wait_times_out(memory: MemorySynapse) -> None:
    boss = orchestrator(memory)
    async with boss:
        with pytest.raises(DispatchTimeoutError) as info:
            await boss.dispatch_and_wait(neuron="nobody-home", input={}, timeout_s=0.05)
        assert isinstance(info.value, TimeoutError)
        assert "nobody-home" in str(info.value)


async def test_dispatch_needs_a_started_dendrite(memory: MemorySynapse) -> None:
    boss = orchestrator(memory)
    with pytest.raises(DendriteStateError):
        await boss.dispatch_and_wait(neuron="x", input={}, timeout_s=1)
    await boss.start()
    await boss.stop()
    with pytest.raises(DendriteStateError):
        await boss.dispatch_and_wait(neuron="x", input={}, timeout_s=1)
    with pytest.raises(DendriteStateError):
        await boss.start()


# -- capability routing ------------------------------------------------------------------


async def test_capability_group_balances_hosts_with_the_same_profile(bus: Bus) -> None:
    handled: list[tuple[str, str]] = []

    def neuron_on(host: str) -> Any:
        async def summarize(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
            handled.append((host, context.trace_id))
            await asyncio.sleep(0)
            return {"host": host}

        return summarize

    a = worker(await bus.connect(), "host-a", Axon("sum-a", neuron_on("a"), ["summarize", "x"]))
    b = worker(await bus.connect(), "host-b", Axon("sum-b", neuron_on("b"), ["x", "summarize"]))
    boss = orchestrator(await bus.connect())
    async with a, b, boss:
        replies = await asyncio.gather(
            *(
                boss.dispatch_and_wait(
                    capabilities=["summarize"], input={"i": i}, timeout_s=HANG_GUARD_S
                )
                for i in range(20)
            )
        )
        # A trace handled twice would show up in `handled` (its reply is the same).
        traces = [r.trace_id for r in replies]
        await eventually(lambda: len(handled) >= 20)
    assert Counter(t for _, t in handled) == Counter(traces)  # each TASK handled once
    hosts = Counter(h for h, _ in handled)
    assert set(hosts) == {"a", "b"}  # both hosts used
    assert {r.payload["output"]["host"] for r in replies} == {"a", "b"}


async def test_capability_task_runs_once_across_different_profiles(
    memory: MemorySynapse,
) -> None:
    handled: list[tuple[str, int]] = []

    def neuron_on(host: str) -> Any:
        async def fn(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
            handled.append((host, input["i"]))
            await asyncio.sleep(0)  # let other runs interleave, as real work would
            return {"host": host}

        return fn

    profiles = {
        "narrow": ["summarize"],
        "wide": ["summarize", "translate"],
        "widest": ["summarize", "translate", "vision"],
    }
    hosts = [
        worker(memory, name, Axon(name, neuron_on(name), caps)) for name, caps in profiles.items()
    ]
    other = worker(memory, "other", Axon("other", neuron_on("other"), ["vision"]))
    boss = orchestrator(memory)
    async with hosts[0], hosts[1], hosts[2], other, boss:
        replies = await asyncio.gather(
            *(
                boss.dispatch_and_wait(
                    capabilities=["summarize"], input={"i": i}, timeout_s=HANG_GUARD_S
                )
                for i in range(200)
            )
        )
        # Fence: a TASK only `widest` covers; by the time it is answered, every host has
        # run whatever copies of the earlier TASKs it received.
        await boss.dispatch_and_wait(
            capabilities=["translate", "vision"], input={"i": -1}, timeout_s=HANG_GUARD_S
        )
    runs = Counter(i for _, i in handled if i >= 0)
    assert runs == Counter(range(200))  # each TASK ran exactly once
    assert all(r.type is SignalType.AGENT_OUTPUT for r in replies)
    load = Counter(host for host, i in handled if i >= 0)
    assert set(load) == set(profiles)  # never on a host that does not cover it
    assert min(load.values()) >= 30, load  # the load spreads across the covering hosts
    assert (handled[-1][0], handled[-1][1]) == ("widest", -1)


async def test_capability_dispatch_prefers_the_host_reporting_less_in_flight(
    memory: MemorySynapse,
) -> None:
    busy_gate = asyncio.Event()
    ran: list[str] = []

    async def fn(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        ran.append(context.neuron_id)
        if input.get("block"):
            await busy_gate.wait()
        return {}

    busy = worker(memory, "busy-host", Axon("busy", fn, ["x"]))
    idle = worker(memory, "idle-host", Axon("idle", fn, ["x"]))
    boss = orchestrator(memory)
    async with busy, idle, boss:
        # the busy host runs three blocked TASKs, addressed to it by id
        for _ in range(3):
            await boss.dispatch_task(neuron="busy", input={"block": True})
        await eventually(lambda: len(ran) == 3)
        # its HEARTBEAT says so (sent by hand here: heartbeat_s=0 in this test)
        await boss.dispatch_task(capabilities=["x"], input={})  # learns membership
        await eventually(lambda: len(ran) == 4)
        await busy.publish(heartbeat_signal(participant="busy", in_flight=3, node="busy-host"))
        await idle.publish(heartbeat_signal(participant="idle", in_flight=0, node="idle-host"))
        fence = await boss.dispatch_and_wait(neuron="idle", input={}, timeout_s=HANG_GUARD_S)
        assert fence.type is SignalType.AGENT_OUTPUT
        del ran[:]
        for _ in range(3):
            await boss.dispatch_and_wait(capabilities=["x"], input={}, timeout_s=HANG_GUARD_S)
        busy_gate.set()
    # idle reported 0 and busy 3: the next three go to idle (0, 1, 2 < 3 in flight)
    assert ran == ["idle", "idle", "idle"]


async def test_a_task_nobody_covers_fails_at_once_with_an_error_on_the_trace(
    memory: MemorySynapse,
) -> None:
    ran: list[str] = []
    errors: list[Signal] = []

    async def fn(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        ran.append(context.neuron_id)
        return {}

    w = worker(memory, "w", Axon("chat", fn, ["chat"]))
    boss = orchestrator(memory, discover_timeout_s=0.2)
    watcher = orchestrator(memory, "watcher")
    watcher.on_error_signal(lambda sig: _append(errors, sig))
    async with w, boss, watcher:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(NoCapableNeuronError) as info:
            # far below the call's timeout: no covering host is not a timeout
            await boss.dispatch_and_wait(capabilities=["chat", "vision"], input={}, timeout_s=60)
        assert loop.time() - began < 30
        assert info.value.code == "no_capable_neuron"
        assert info.value.capabilities == ["chat", "vision"]
        assert "chat, vision" in str(info.value)
        await eventually(lambda: len(errors) == 1)
        assert errors[0].trace_id == info.value.trace_id
        assert errors[0].payload["code"] == "no_capable_neuron"
        with pytest.raises(NoCapableNeuronError):
            await boss.dispatch_task(capabilities=["vision"], input={})
        await boss.dispatch_and_wait(capabilities=["chat"], input={}, timeout_s=HANG_GUARD_S)
    assert ran == ["chat"]


async def _append(found: list[Signal], signal: Signal) -> None:
    found.append(signal)


async def test_a_discover_names_the_dendrite_that_asks(memory: MemorySynapse) -> None:
    """Both DISCOVERs a Dendrite sends (on start, when it keeps a registry; and before a
    capability TASK with no known host) carry ``meta.node``, so viewers show who asked."""
    discovers: list[Signal] = []
    watcher = orchestrator(memory, "watcher")
    w = worker(memory, "w", Axon("chat", echo, ["chat"]))
    member = orchestrator(memory, "member", registry_store=MemoryRegistryStore())
    boss = orchestrator(memory, discover_timeout_s=HANG_GUARD_S)
    async with watcher:
        await watcher.subscribe(SignalType.DISCOVER, lambda sig: _append(discovers, sig))
        async with w, member, boss:
            await eventually(lambda: len(discovers) == 1)
            await boss.dispatch_and_wait(capabilities=["chat"], input={}, timeout_s=HANG_GUARD_S)
            await eventually(lambda: len(discovers) == 2)
    assert [d.meta.get("node") for d in discovers] == ["member", "boss"]
    assert [route_of(d).sender for d in discovers] == ["member", "boss"]
    assert discovers[1].payload == {"capabilities": ["chat"]}


async def test_a_task_for_another_neuron_is_ignored(memory: MemorySynapse) -> None:
    ran: list[str] = []

    async def fn(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        ran.append(context.neuron_id)
        return {}

    w1 = worker(memory, "w1", Axon("alpha", fn))
    w2 = worker(memory, "w2", Axon("beta", fn))
    boss = orchestrator(memory)
    async with w1, w2, boss:
        await boss.dispatch_and_wait(neuron="beta", input={}, timeout_s=HANG_GUARD_S)
        await boss.dispatch_and_wait(neuron="alpha", input={}, timeout_s=HANG_GUARD_S)
    assert ran == ["beta", "alpha"]


async def test_queue_group_subscribe_balances_tasks(bus: Bus) -> None:
    """The seed's "broker-side balancing": one queue_group on subscribe, no hashing."""
    got: dict[str, list[str]] = {"a": [], "b": []}
    a = worker(await bus.connect(), "a")
    b = worker(await bus.connect(), "b")
    boss = orchestrator(await bus.connect())
    async with a, b, boss:
        for name, d in (("a", a), ("b", b)):

            async def handler(task: Signal, name: str = name) -> None:
                got[name].append(task.trace_id)

            sub = await d.subscribe(SignalType.TASK, handler, queue_group="pool")
            assert sub is not None and sub.queue_group == "pool"
        sent = [
            (await boss.dispatch_task(neuron="pool", input={"i": i})).trace_id for i in range(20)
        ]
        await eventually(lambda: len(got["a"]) + len(got["b"]) >= 20)
    assert sorted(got["a"] + got["b"]) == sorted(sent)
    assert got["a"] and got["b"]


async def test_queue_group_subscribe_needs_a_started_dendrite(memory: MemorySynapse) -> None:
    async def handler(signal: Signal) -> None:
        pass

    d = worker(memory, "w")
    with pytest.raises(DendriteStateError):
        await d.subscribe(SignalType.TASK, handler, queue_group="pool")


# -- decorators --------------------------------------------------------------------------


async def test_decorators_bare_and_with_filters(memory: MemorySynapse) -> None:
    boss = orchestrator(memory)
    got: dict[str, list[str]] = {}

    def record(name: str, sig: Signal) -> None:
        got.setdefault(name, []).append(str(sig.payload.get("tag")))

    @boss.on_agent_output
    async def every_output(sig: Signal) -> None:
        record("output", sig)

    @boss.on_agent_output(neuron="alpha")
    async def alpha_only(sig: Signal) -> None:
        record("output:alpha", sig)

    @boss.on_agent_output(capability="vision")
    async def vision_only(sig: Signal) -> None:
        record("output:vision", sig)

    fixed_trace = new_trace_id()

    @boss.on_agent_output(trace_id=fixed_trace)
    async def one_trace(sig: Signal) -> None:
        record("output:trace", sig)

    @boss.on_final
    async def finals(sig: Signal) -> None:
        record("final", sig)

    @boss.on_error_signal(neuron="beta")
    async def beta_errors(sig: Signal) -> None:
        record("error:beta", sig)

    @boss.on_signal("PLAN")
    async def plans(sig: Signal) -> None:
        record("plan", sig)

    @boss.on_signal(SignalType.TOOL_CALL, capability="search")
    async def searches(sig: Signal) -> None:
        record("tool:search", sig)

    def out(tag: str, neuron: str, caps: list[str], trace_id: str | None = None) -> Signal:
        return Signal(
            type=SignalType.AGENT_OUTPUT,
            payload={"output": {}, "tag": tag},
            directed=Directed(neuron, None, caps),
            trace_id=trace_id or new_trace_id(),
        )

    async with boss:
        sender = worker(memory, "sender")
        async with sender:
            for sig in [
                out("o1", "alpha", []),
                out("o2", "beta", ["vision"]),
                out("o3", "gamma", ["chat"], trace_id=fixed_trace),
                out("o4", "alpha", ["vision", "chat"]),
                Signal(type=SignalType.FINAL, payload={"result": {}, "tag": "f1"}),
                Signal(
                    type=SignalType.ERROR,
                    payload={"code": "X", "tag": "e1"},
                    directed=Directed("alpha"),
                ),
                Signal(
                    type=SignalType.ERROR,
                    payload={"code": "X", "tag": "e2"},
                    directed=Directed("beta"),
                ),
                Signal(type=SignalType.PLAN, payload={"tag": "p1"}),
                Signal(type=SignalType.TOOL_CALL, payload={"tag": "t1", "capabilities": ["web"]}),
                Signal(
                    type=SignalType.TOOL_CALL, payload={"tag": "t2", "capabilities": ["search"]}
                ),
                # Fence: passes every filter above, so once each handler has it, each
                # has had everything before it.
                out("end", "alpha", ["vision"], trace_id=fixed_trace),
                Signal(type=SignalType.FINAL, payload={"result": {}, "tag": "end"}),
                Signal(type=SignalType.ERROR, payload={"tag": "end"}, directed=Directed("beta")),
                Signal(type=SignalType.PLAN, payload={"tag": "end"}),
                Signal(
                    type=SignalType.TOOL_CALL,
                    payload={"tag": "end"},
                    directed=Directed(None, None, ["search"]),
                ),
            ]:
                await sender.publish(sig)
            await eventually(lambda: len(got) == 8 and all(v[-1] == "end" for v in got.values()))
    assert got == {
        "output": ["o1", "o2", "o3", "o4", "end"],
        "output:alpha": ["o1", "o4", "end"],
        "output:vision": ["o2", "o4", "end"],
        "output:trace": ["o3", "end"],
        "final": ["f1", "end"],
        "error:beta": ["e2", "end"],
        "plan": ["p1", "end"],
        "tool:search": ["t2", "end"],
    }


async def test_a_decorator_added_after_start_subscribes(memory: MemorySynapse) -> None:
    boss = orchestrator(memory)
    got: list[Signal] = []
    async with boss:

        @boss.on_final
        async def late(sig: Signal) -> None:
            got.append(sig)

        async def delivered() -> bool:
            await boss.emit_final(trace_id=new_trace_id(), result={"ok": True})
            return bool(got)

        await eventually(delivered)
    assert got[0].payload["result"] == {"ok": True}
    assert got[0].neuron == "boss"


async def test_seed_producer_handler_order_register_then_start(memory: MemorySynapse) -> None:
    """The seed registers ``@on_agent_output`` before ``async with`` and replies arrive."""
    w = worker(memory, "w", Axon("poet", echo))
    producer = orchestrator(memory, "producer")
    futures: dict[str, asyncio.Future[str | None]] = {}

    @producer.on_agent_output
    async def _on_output(sig: Signal) -> None:
        fut = futures.pop(sig.trace_id, None)
        if fut and not fut.done():
            fut.set_result(sig.neuron)

    async with w, producer:
        trace_id = new_trace_id()
        futures[trace_id] = asyncio.get_running_loop().create_future()
        await producer.dispatch_task(neuron="poet", input={"prompt": "p"}, trace_id=trace_id)
        assert await asyncio.wait_for(futures[trace_id], HANG_GUARD_S) == "poet"


# -- the role gate -----------------------------------------------------------------------


async def test_workers_may_not_send_task_or_stop(memory: MemorySynapse) -> None:
    w = worker(memory, "w")
    trace_id = new_trace_id()
    async with w:
        with pytest.raises(RoleError, match="only orchestrators send TASK") as info:
            await w.dispatch_task(neuron="x", input={})
        assert isinstance(info.value, PermissionError)
        with pytest.raises(RoleError):
            await w.dispatch_and_wait(neuron="x", input={}, timeout_s=1)
        with pytest.raises(RoleError):
            await w.publish(task_signal(input={}, neuron="x"))
        with pytest.raises(RoleError, match="STOP"), pytest.warns(CosmonapseDeprecationWarning):
            await w.emit_stop(trace_id)
        with pytest.raises(RoleError, match="STOP"):
            await w.stop_trace(trace_id)
        with pytest.raises(RoleError, match="STOP"):
            await w.stop_trace(trace_id, collect_acks=True, timeout_s=0.05)
        assert w.counters["published"] == 0


async def test_a_refused_stop_leaves_the_trace_alone(memory: MemorySynapse) -> None:
    """A worker's stop_trace is refused; it must not half-stop the trace locally."""
    w = worker(memory, "w")
    boss = orchestrator(memory)
    heard: list[Signal] = []

    @boss.on_agent_output
    async def _heard(sig: Signal) -> None:
        heard.append(sig)

    task = task_signal(input={}, neuron="x")
    async with w, boss:
        with pytest.raises(RoleError):
            await w.stop_trace(task.trace_id)
        await w.publish(agent_output_signal(task, output={"still": "here"}, producer="x"))
        await eventually(lambda: len(heard) == 1)
    assert w.counters["suppressed"] == 0


async def test_workers_may_send_everything_else(memory: MemorySynapse) -> None:
    w = worker(memory, "w")
    task = task_signal(input={}, neuron="x")
    async with w:
        await w.publish(agent_output_signal(task, output={}, producer="x"))
        await w.publish(
            error_signal(trace_id=task.trace_id, parent_id=task.id, code="C", message="m")
        )
        await w.emit_final(trace_id=task.trace_id, result={})
        await w.emit(SignalType.PLAN, {"steps": []}, trace_id=task.trace_id)
    assert w.counters["published"] == 4


def test_role_is_validated() -> None:
    with pytest.raises(ValueError, match="role"):
        Dendrite(synapse=MemorySynapse(), namespace=NS, role="boss")  # type: ignore[arg-type]


# -- Neuron failures ---------------------------------------------------------------------


async def test_a_raising_neuron_answers_error_neuron_exception(bus: Bus) -> None:
    async def broken(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        raise ValueError("bad prompt")

    w = worker(await bus.connect(), "w", Axon("broken", broken))
    boss = orchestrator(await bus.connect())
    async with w, boss:
        reply = await boss.dispatch_and_wait(neuron="broken", input={}, timeout_s=HANG_GUARD_S)
    assert reply.type is SignalType.ERROR
    assert reply.payload["code"] == "NEURON_EXCEPTION"
    assert reply.payload["recoverable"] is False
    assert "ValueError" in reply.payload["message"] and "bad prompt" in reply.payload["message"]
    assert reply.neuron == "broken"
    assert reply.meta["node"] == "w"


async def test_neuron_error_carries_code_recoverable_and_retry_after(bus: Bus) -> None:
    async def limited(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        raise NeuronError("slow down", code="RATE_LIMITED", recoverable=True, retry_after_s=2.5)

    async def plain(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        raise NeuronError("nope")

    w = worker(await bus.connect(), "w", Axon("limited", limited), Axon("plain", plain))
    boss = orchestrator(await bus.connect())
    async with w, boss:
        limited_reply = await boss.dispatch_and_wait(
            neuron="limited", input={}, timeout_s=HANG_GUARD_S
        )
        plain_reply = await boss.dispatch_and_wait(neuron="plain", input={}, timeout_s=HANG_GUARD_S)
    assert limited_reply.type is SignalType.ERROR
    assert limited_reply.payload == {
        "code": "RATE_LIMITED",
        "message": "slow down",
        "recoverable": True,
    }
    assert limited_reply.meta["retry_after_s"] == 2.5
    assert plain_reply.payload["code"] == "NEURON_ERROR"
    assert plain_reply.payload["recoverable"] is False
    assert "retry_after_s" not in plain_reply.meta


async def test_handle_task_unattached() -> None:
    async def bad_output(input: dict[str, Any], context: NeuronContext) -> Any:
        return ["not", "a", "dict"]

    async def crash(input: dict[str, Any], context: NeuronContext) -> Any:
        raise KeyError("k")

    task = task_signal(input={"q": 1}, neuron="any", meta={"attempt": 2})
    ok = await Axon("echo", echo, ["c"]).handle_task(task)
    assert ok.type is SignalType.AGENT_OUTPUT
    assert ok.payload["output"] == {"echo": {"q": 1}, "by": "echo", "node": None}
    assert ok.parent_id == task.id and ok.trace_id == task.trace_id
    assert ok.meta["attempt"] == 2 and "node" not in ok.meta
    bad = await Axon("bad", bad_output).handle_task(task)
    assert bad.type is SignalType.ERROR and bad.payload["code"] == "NEURON_BAD_OUTPUT"
    crashed = await Axon("crash", crash).handle_task(task)
    assert crashed.payload["code"] == "NEURON_EXCEPTION"
    with pytest.raises(ValueError, match="needs a TASK"):
        await Axon("echo", echo).handle_task(Signal(type=SignalType.PLAN))


async def test_neuron_context() -> None:
    seen: list[NeuronContext] = []

    async def spy(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        seen.append(context)
        return {}

    task = task_signal(input={}, neuron="spy", meta={"attempt": 3})
    await Axon("spy", spy).handle_task(task)
    ctx = seen[0]
    assert ctx.task is task and ctx.trace_id == task.trace_id == ctx["trace_id"]
    assert ctx.attempt == 3 and ctx.neuron_id == "spy"
    assert ctx.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        ctx["missing"]


def test_axon_validates_its_arguments() -> None:
    with pytest.raises(ValueError):
        Axon("", echo)
    with pytest.raises(TypeError):
        Axon("x", "not callable")  # type: ignore[arg-type]
    assert Axon("x", echo, ["b", "a", "b"]).capabilities == ["a", "b"]


async def test_attaching_the_same_neuron_id_twice_is_an_error(memory: MemorySynapse) -> None:
    d = worker(memory, "w", Axon("x", echo))
    with pytest.raises(ValueError, match="already attached"):
        d.attach_axon(Axon("x", echo))


async def test_attach_after_start_serves_tasks(memory: MemorySynapse) -> None:
    w = worker(memory, "w")
    boss = orchestrator(memory)
    async with w, boss:
        w.attach_axon(Axon("late", echo, ["late-cap"]))

        async def answered() -> bool:
            try:
                await boss.dispatch_and_wait(capabilities=["late-cap"], input={}, timeout_s=0.2)
            except DispatchTimeoutError:
                return False
            return True

        await eventually(answered)
        reply = await boss.dispatch_and_wait(neuron="late", input={}, timeout_s=HANG_GUARD_S)
    assert reply.neuron == "late"


# -- bad frames ----------------------------------------------------------------------------


async def test_invalid_frames_are_counted_and_dropped(bus: Bus) -> None:
    synapse = await bus.connect()
    w = worker(synapse, "w", Axon("echo", echo, ["c"]))
    boss = orchestrator(await bus.connect())
    heard: list[Signal] = []

    @boss.on_agent_output
    async def _heard(sig: Signal) -> None:
        heard.append(sig)

    bad_task = task_signal(input={}, neuron="echo").to_dict()
    bad_task["payload"] = {"input": "not an object"}
    bad_frames = [
        b"not json at all",
        b"[1, 2, 3]",
        b"{}",
        orjson_dumps({**bad_task}),
        orjson_dumps({**task_signal(input={}, neuron="echo").to_dict(), "v": "2"}),
        orjson_dumps({**task_signal(input={}, neuron="echo").to_dict(), "type": "NOPE"}),
    ]
    raw = await bus.connect()
    async with w, boss:
        for frame in bad_frames:
            await raw.publish(signal_subject(NS, "TASK"), frame)
            await raw.publish(routed_task_subject(NS), frame)
            await raw.publish(signal_subject(NS, "AGENT_OUTPUT"), frame)
        # Everything still works afterwards, on every path.
        one = await boss.dispatch_and_wait(neuron="echo", input={"a": 1}, timeout_s=HANG_GUARD_S)
        two = await boss.dispatch_and_wait(capabilities=["c"], input={}, timeout_s=HANG_GUARD_S)
        await eventually(lambda: len(heard) == 2)
        await eventually(lambda: w.stats["bad_frames"] == 2 * len(bad_frames))
        await eventually(lambda: boss.stats["bad_frames"] == len(bad_frames))
    assert one.payload["output"]["echo"] == {"a": 1}
    assert two.type is SignalType.AGENT_OUTPUT
    assert w.stats["handler_errors"] == 0 and boss.stats["handler_errors"] == 0


def orjson_dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


async def test_replicas_of_one_neuron_id_each_run_a_capability_task_once(bus: Bus) -> None:
    handled: list[tuple[str, int]] = []

    def neuron_on(host: str) -> Any:
        async def fn(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
            handled.append((host, input["i"]))
            return {"host": host}

        return fn

    # one neuron id, two processes: replicas, as a scaled-out deployment runs them
    a = worker(await bus.connect(), "replica-a", Axon("crunch", neuron_on("a"), ["crunch"]))
    b = worker(await bus.connect(), "replica-b", Axon("crunch", neuron_on("b"), ["crunch"]))
    boss = orchestrator(await bus.connect())
    async with a, b, boss:
        replies = [
            await boss.dispatch_and_wait(
                capabilities=["crunch"], input={"i": i}, timeout_s=HANG_GUARD_S
            )
            for i in range(20)
        ]
        await boss.dispatch_and_wait(neuron="crunch", input={"i": -1}, timeout_s=HANG_GUARD_S)
        await eventually(lambda: len([h for h in handled if h[1] == -1]) == 2)  # by id: both
    assert Counter(i for _, i in handled if i >= 0) == Counter(range(20))
    assert Counter(h for h, i in handled if i >= 0) == {"a": 10, "b": 10}  # they take turns
    assert {r.payload["output"]["host"] for r in replies} == {"a", "b"}


async def test_a_host_that_lets_a_task_go_unanswered_is_passed_over(memory: MemorySynapse) -> None:
    ran: list[str] = []
    stuck = asyncio.Event()

    async def answers(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        ran.append(context.node)
        return {}

    async def hangs(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
        ran.append(context.node)
        await stuck.wait()  # as a host that died without a DEREGISTER
        return {}

    good = worker(memory, "good", Axon("crunch", answers, ["crunch"]))
    dead = worker(memory, "dead", Axon("crunch", hangs, ["crunch"]))
    boss = orchestrator(memory)
    async with good, dead, boss:
        outcomes = []
        for _ in range(6):
            try:
                await boss.dispatch_and_wait(capabilities=["crunch"], input={}, timeout_s=0.3)
                outcomes.append("ok")
            except DispatchTimeoutError:
                outcomes.append("timeout")
        stuck.set()
    assert outcomes.count("timeout") <= 1  # the silent host got at most one TASK
    assert ran.count("dead") <= 1 and ran.count("good") >= 5
