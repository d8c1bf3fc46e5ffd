"""Live membership: REGISTER, DEREGISTER and HEARTBEAT keep a MemoryRegistryStore current.

Time in the store is an injected clock, so staleness is decided by the test, not by how
fast the machine is.
"""

from __future__ import annotations

from typing import Any

from cosmonapse import (
    Axon,
    Dendrite,
    Directed,
    InMemoryEngram,
    MemoryRegistryStore,
    NeuronContext,
    Signal,
    SignalType,
    owner_of,
)
from cosmonapse.builders import deregister_signal, heartbeat_signal, register_signal

from .conftest import Bus, eventually

NS = "members"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def noop(input: dict[str, Any], context: NeuronContext) -> dict[str, Any]:
    return {}


def host(synapse: Any, dendrite_id: str, heartbeat_s: float = 0, **kw: Any) -> Dendrite:
    return Dendrite(
        synapse=synapse,
        namespace=NS,
        dendrite_id=dendrite_id,
        role="worker",
        heartbeat_s=heartbeat_s,
        **kw,
    )


async def test_join_heartbeat_staleness_and_leave(bus: Bus) -> None:
    clock = Clock()
    store = MemoryRegistryStore(stale_after_s=30, clock=clock)
    events: list[tuple[str, str]] = []
    store.on_change(lambda event, p: events.append((event, p.id)))
    observer = Dendrite(
        synapse=await bus.connect(),
        namespace=NS,
        dendrite_id="observer",
        heartbeat_s=0,
        registry_store=store,
    )
    beating = host(await bus.connect(), "w1", heartbeat_s=0.02)
    beating.attach_axon(Axon("n1", noop, ["chat", "code"], version="1.2"))
    silent = host(await bus.connect(), "w2")  # heartbeats disabled: only REGISTER
    silent.attach_engram(InMemoryEngram("mem-1", "semantic"))

    async with observer:
        await beating.start()
        await silent.start()
        await eventually(lambda: store.peers() == ["mem-1", "n1"], what="both joined")
        n1 = store.get("n1")
        assert n1 is not None
        assert (n1.role, n1.capabilities, n1.node, n1.version) == (
            "neuron",
            ["chat", "code"],
            "w1",
            "1.2",
        )
        mem = store.get("mem-1")
        assert mem is not None and (mem.role, mem.node) == ("engram", "w2")
        assert store.peers(role="neuron") == ["n1"]
        assert store.peers(role="engram") == ["mem-1"]
        assert store.peers(capability="code") == ["n1"]
        assert sorted(events) == [("join", "mem-1"), ("join", "n1")]

        # Time passes; only the heartbeating participant refreshes itself.
        clock.now = 100.0
        await eventually(
            lambda: store.get("n1").last_seen == 100.0,  # type: ignore[union-attr]
            what="a heartbeat after the clock moved",
        )
        assert store.peers() == ["n1"]  # mem-1 went stale (last seen at 0, horizon 70)
        assert ("leave", "mem-1") in events

        await beating.stop()
        await eventually(lambda: store.peers() == [], what="n1 deregistered")
        assert events[-1] == ("leave", "n1")
        await silent.stop()


async def test_a_late_observer_discovers_running_hosts(bus: Bus) -> None:
    early = host(await bus.connect(), "early")
    early.attach_axon(Axon("n-early", noop, ["x"]))
    store = MemoryRegistryStore()
    late = Dendrite(
        synapse=await bus.connect(),
        namespace=NS,
        dendrite_id="late",
        heartbeat_s=0,
        registry_store=store,
    )
    async with early, late:  # sends DISCOVER; `early` answers with REGISTER
        await eventually(lambda: store.peers() == ["n-early"])
    assert store.get("n-early").node == "early"  # type: ignore[union-attr]


async def test_registry_derived_peers_drive_owner_of(bus: Bus) -> None:
    """The seed's "live membership": PEERS comes from the registry, not a constant."""
    store = MemoryRegistryStore(stale_after_s=None)
    producer = Dendrite(
        synapse=await bus.connect(),
        namespace=NS,
        dendrite_id="producer",
        heartbeat_s=0,
        registry_store=store,
    )
    workers = []
    for name in ("worker-b", "worker-a", "worker-c"):
        w = host(await bus.connect(), name)
        w.attach_axon(Axon(name, noop, ["pool"]))
        workers.append(w)
    async with producer:
        for w in workers:
            await w.start()
        await eventually(lambda: len(store.peers(capability="pool")) == 3)
        peers = store.peers(capability="pool")
        assert peers == ["worker-a", "worker-b", "worker-c"]  # sorted: every peer agrees
        owners = {owner_of(f"trc_{i:026d}", peers) for i in range(200)}
        assert owners == set(peers)
        await workers[0].stop()
        await eventually(lambda: store.peers(capability="pool") == ["worker-a", "worker-c"])
        for w in workers[1:]:
            await w.stop()


def test_store_rules_without_a_bus() -> None:
    clock = Clock()
    store = MemoryRegistryStore(stale_after_s=None, max_participants=2, clock=clock)
    left: list[str] = []
    store.on_change(lambda event, p: left.append(p.id) if event == "leave" else None)
    for i, name in enumerate(("a", "b", "c")):
        clock.now = float(i)
        store.observe(register_signal(participant=name, role="neuron", node="n"))
    assert store.peers() == ["b", "c"]  # bounded: the stalest went first
    assert left == ["a"]
    clock.now = 10_000.0
    assert store.peers() == ["b", "c"]  # stale_after_s=None: never stale
    store.observe(heartbeat_signal(participant="unknown"))  # ignored, not an error
    store.observe(deregister_signal(participant="unknown", reason="x"))
    store.observe(Signal(type=SignalType.REGISTER, payload={}))  # no directed.id: ignored
    store.observe(deregister_signal(participant="b", reason="bye"))
    assert store.peers() == ["c"]


def test_store_keeps_the_in_flight_a_heartbeat_reports() -> None:
    store = MemoryRegistryStore(stale_after_s=None)
    store.observe(register_signal(participant="w", role="neuron", node="n"))
    member = store.get("w")
    assert member is not None and member.in_flight == 0
    store.observe(heartbeat_signal(participant="w", in_flight=7, node="n"))
    assert member.in_flight == 7
    store.observe(heartbeat_signal(participant="w", node="n"))  # none reported: kept
    assert member.in_flight == 7
    store.observe(
        Signal(type=SignalType.HEARTBEAT, payload={"in_flight": -1}, directed=Directed("w"))
    )
    assert member.in_flight == 7  # not a count: ignored
