"""The shared from -> to rule (cosmonapse.route), on Signals built as the Dendrite builds them."""

from __future__ import annotations

import pytest
from cosmonapse import Route, RouteCache, Signal, builders, route_of
from cosmonapse.route import ALL, ANYONE, UNKNOWN


def a_task(node: str = "api", neuron: str = "ingester") -> Signal:
    return builders.task_signal(input={"doc": "x"}, neuron=neuron, meta={"node": node})


def test_task_goes_from_the_sending_dendrite_to_its_target() -> None:
    assert route_of(a_task()) == Route("api", "ingester")
    caps = builders.task_signal(input={}, capabilities=["b", "a"])
    assert route_of(caps) == Route("orchestrator", "caps:a,b")


def test_reply_goes_from_its_producer_back_to_the_task_sender() -> None:
    task = a_task()
    out = builders.agent_output_signal(task, output={"ok": 1}, producer="ingester")
    assert route_of(out, task) == Route("ingester", "api")
    assert route_of(out) == Route("ingester", UNKNOWN)  # parent not seen


def test_a_delegated_task_goes_from_the_calling_neuron_not_its_dendrite() -> None:
    root = a_task(node="api", neuron="planner")
    child = builders.task_signal(
        input={"topic": "tides"},
        neuron="researcher",
        trace_id=root.trace_id,
        parent_id=root.id,
        meta={"node": "hub", "caller": "planner", "depth": 1, "deadline_ms": 900},
    )
    grandchild = builders.task_signal(
        input={"q": 1},
        capabilities=["fact"],
        trace_id=root.trace_id,
        parent_id=child.id,
        meta={"node": "lab", "caller": "researcher", "depth": 2},
    )
    answer = builders.agent_output_signal(child, output={"f": 1}, producer="researcher")
    routes = RouteCache()
    assert [routes.route(s) for s in (root, child, grandchild, answer)] == [
        Route("api", "planner"),
        Route("planner", "researcher"),
        Route("researcher", "caps:fact"),
        Route("researcher", "planner"),
    ]
    assert route_of(child) == Route("planner", "researcher")  # parent not needed
    # a caller that is not a name is ignored: the sending Dendrite again
    odd = builders.task_signal(input={}, neuron="x", meta={"node": "hub", "caller": 3})
    assert route_of(odd) == Route("hub", "x")


def test_stop_goes_from_its_producer_to_every_dendrite() -> None:
    stop = builders.stop_signal(trace_id=a_task().trace_id, producer="api")
    assert route_of(stop) == Route("api", ALL)
    acked = builders.stopped_signal(stop, node="d-1", rolled_back=False, cancelled=0, compensated=0)
    assert route_of(acked, stop) == Route("d-1", "api")


def test_imprint_goes_from_the_neuron_whose_task_wrote_to_the_engram() -> None:
    task = a_task()
    imprint = builders.imprint_signal(
        engram_id="retry-vectors", op="add", entry={}, trace_id=task.trace_id, parent_id=task.id
    )
    assert route_of(imprint) == Route(UNKNOWN, "retry-vectors")
    assert route_of(imprint, task) == Route("ingester", "retry-vectors")
    done = builders.imprinted_signal(
        imprint, engram_id="retry-vectors", op="add", entry_id="e1", version=1, took_ms=0.1
    )
    assert route_of(done, imprint, parent_route=route_of(imprint, task)) == Route(
        "retry-vectors", "ingester"
    )


def test_membership_and_final_speak_to_whoever_listens() -> None:
    beat = builders.heartbeat_signal(participant="ingester", node="d-1")
    assert route_of(beat) == Route("d-1", ANYONE)
    final = builders.final_signal(trace_id=a_task().trace_id, parent_id=None, result={})
    assert route_of(final) == Route("orchestrator", ANYONE)
    error = builders.error_signal(trace_id=final.trace_id, parent_id=None, code="x", message="y")
    assert route_of(error).receiver == ANYONE


def test_the_cache_chains_routes_and_stays_bounded() -> None:
    routes = RouteCache(size=3)
    task = a_task()
    imprint = builders.imprint_signal(
        engram_id="vec", op="add", entry={}, trace_id=task.trace_id, parent_id=task.id
    )
    done = builders.imprinted_signal(
        imprint, engram_id="vec", op="add", entry_id="e1", version=1, took_ms=0.1
    )
    assert [routes.route(s) for s in (task, imprint, done)] == [
        Route("api", "ingester"),
        Route("ingester", "vec"),
        Route("vec", "ingester"),
    ]
    assert routes.route(imprint) == Route("ingester", "vec")  # a duplicate: same answer
    for _ in range(5):
        routes.route(builders.heartbeat_signal(participant="p", node="n"))
    assert len(routes) == 3 and task.id not in routes
    with pytest.raises(ValueError):
        RouteCache(size=0)
