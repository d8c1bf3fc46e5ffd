"""examples/14-third-party-plugin: a distribution the core does not ship, found by entry
points, used by name, and rolled back through the core's saga journal.

The plugin is installed into the test environment as its own distribution (noxfile.py
installs it next to the five packages), so nothing here puts it on ``sys.path`` by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Engram,
    EngramBinding,
    EngramError,
    MemorySynapse,
    Neuron,
    NeuronContext,
    Signal,
    SignalType,
    UnknownPluginError,
    installed_plugins,
    new_trace_id,
)

from tests.examples.conftest import bus_url
from tests.examples.runner import EXAMPLES, ExampleProcesses, run_example

FOLDER = "14-third-party-plugin"
DIST = "cosmonapse-plugin-echo"
OURS = {
    "cosmonapse",
    "cosmonapse-cli",
    "cosmonapse-engram-vector",
    "cosmonapse-neuron-hf",
    "cosmonapse-prism",
}
NAMESPACE = "plugin-test"
DEADLINE_S = 10.0  # hang guard only


def readme_output() -> str:
    """The output the example's README promises under ``$ python demo.py``."""
    text = (EXAMPLES / FOLDER / "README.md").read_text()
    match = re.search(r"```console\n\$ python demo\.py\n(.*?)```", text, re.DOTALL)
    assert match, "the README has no `$ python demo.py` block"
    return match.group(1)


# -- installed as its own distribution, found by the core --------------------------------


def test_the_plugin_is_its_own_distribution() -> None:
    dist = distribution(DIST)
    assert dist.metadata["Name"] == DIST and DIST not in OURS
    assert dist.version == "0.1.0"  # its own version line, not the core's 0.2.0
    assert "cosmonapse<0.3,>=0.2" in [r.replace(" ", "") for r in dist.requires or []]
    # Installed by pip from this example's package folder, with its own metadata...
    origin = json.loads(dist.read_text("direct_url.json") or "{}")
    assert origin.get("url") == (EXAMPLES / FOLDER / DIST).as_uri()
    assert dist.read_text("entry_points.txt")
    import cosmonapse_plugin_echo

    assert Path(cosmonapse_plugin_echo.__file__).is_relative_to(EXAMPLES / FOLDER / DIST)
    # ...and none of the five packages of this repository declares its objects.
    for ours in OURS:
        assert not [ep for ep in distribution(ours).entry_points if "plugin_echo" in ep.value]


@pytest.mark.parametrize(
    ("group", "name", "target"),
    [
        ("cosmonapse.neurons", "echo", "cosmonapse_plugin_echo:create_neuron"),
        ("cosmonapse.engrams", "kv", "cosmonapse_plugin_echo:KeyValueEngram"),
    ],
)
def test_core_discovery_lists_the_names_from_that_distribution(
    group: str, name: str, target: str
) -> None:
    assert installed_plugins()[group][name] == DIST
    # The core asks importlib.metadata for the group; what it gets for the name must be
    # this distribution's entry point and no other.
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    assert [(ep.value, ep.dist.name if ep.dist else None) for ep in found] == [(target, DIST)]


def test_the_names_load_from_that_distribution() -> None:
    neuron = Neuron(source="echo")
    assert type(neuron).__module__.startswith("cosmonapse_plugin_echo.")
    kv = Engram.of_kind("kv", engram_id="loaded")
    assert type(kv).__module__.startswith("cosmonapse_plugin_echo.")


def test_unknown_names_still_fail_clearly() -> None:
    with pytest.raises(UnknownPluginError, match=r"'echoes'.*installed: .*echo"):
        Neuron(source="echoes")
    with pytest.raises(UnknownPluginError, match=r"Engram kind 'kvs'.*installed: .*kv"):
        Engram.of_kind("kvs", engram_id="x")
    with pytest.raises(ValueError, match="unknown echo transform 'shout'"):
        Neuron(source="echo", transform="shout")


# -- used by name on real Dendrites -----------------------------------------------------


@pytest.fixture
async def bus() -> AsyncIterator[MemorySynapse]:
    synapse = MemorySynapse()
    try:
        yield synapse
    finally:
        await synapse.close()


def kv_contents(engram: Engram) -> dict[str, Any]:
    return {hit.entry["key"]: hit.entry["value"] for hit in engram.recall({})}


def output_of(reply: Signal) -> Mapping[str, Any]:
    assert reply.type is not SignalType.ERROR, reply.payload
    key = "result" if reply.type is SignalType.FINAL else "output"
    result: Mapping[str, Any] = reply.payload[key]
    return result


async def test_neuron_by_source_runs_on_a_dendrite(bus: MemorySynapse) -> None:
    worker = Dendrite(synapse=bus, namespace=NAMESPACE, dendrite_id="worker", role="worker")
    worker.attach_axon(
        Axon(
            neuron_id="shout",
            neuron_fn=Neuron(source="echo", transform="upper", prefix="> ", max_chars=10),
        )
    )
    async with worker, Dendrite(synapse=bus, namespace=NAMESPACE) as caller:
        reply = await caller.dispatch_and_wait(
            neuron="shout", input={"text": "  quiet   words here "}, timeout_s=DEADLINE_S
        )
        assert reply.type is SignalType.AGENT_OUTPUT and reply.neuron == "shout"
        assert output_of(reply) == {"text": "> QUIET WO", "transform": "upper", "chars": 10}

        bad = await caller.dispatch_and_wait(
            neuron="shout", input={"words": 3}, timeout_s=DEADLINE_S
        )
        assert bad.type is SignalType.ERROR
        assert bad.payload["code"] == "BAD_INPUT"
        assert "'text'" in bad.payload["message"]


async def test_engram_kind_by_name_rolls_back_through_the_saga_journal(
    bus: MemorySynapse,
) -> None:
    kv = Engram.of_kind("kv", engram_id="echo-log")
    assert isinstance(kv, Engram) and kv.engram_kind == "kv" and kv.engram_id == "echo-log"

    host = Dendrite(synapse=bus, namespace=NAMESPACE, dendrite_id="kv-host", role="worker")
    host.attach_engram(kv)
    worker = Dendrite(synapse=bus, namespace=NAMESPACE, dendrite_id="worker", role="worker")
    worker.attach_axon(
        Axon(
            neuron_id="titler",
            neuron_fn=Neuron(source="echo", transform="title", store="log"),
            engrams=[EngramBinding(name="log", directed_id="echo-log")],
        )
    )

    # A second Neuron reads the Engram over the bus by kind, not by id.
    async def reader(
        input: Mapping[str, Any], context: NeuronContext, *, recall: Any
    ) -> dict[str, Any]:
        hits = await recall("any-kv", query={"prefix": input["prefix"]})
        return {"keys": [hit.entry["key"] for hit in hits]}

    worker.attach_axon(
        Axon(
            neuron_id="reader",
            neuron_fn=reader,
            engrams=[EngramBinding(name="any-kv", directed_type="kv")],
        )
    )
    orchestrator = Dendrite(synapse=bus, namespace=NAMESPACE, dendrite_id="orchestrator")

    async def title(text: str, key: str, **options: Any) -> Mapping[str, Any]:
        reply = await orchestrator.dispatch_and_wait(
            neuron="titler", input={"text": text, "key": key}, timeout_s=DEADLINE_S, **options
        )
        return output_of(reply)

    async with host, worker, orchestrator:
        committed = new_trace_id()
        out = await title("the bus is calm", "greeting", trace_id=committed, finalize=True)
        assert out == {
            "text": "The Bus Is Calm",
            "transform": "title",
            "chars": 15,
            "stored": "greeting",
        }
        assert kv_contents(kv) == {"greeting": "The Bus Is Calm"}
        assert not kv.has_stake(committed)  # the FINAL committed (discarded) its journal

        stopped = new_trace_id()
        await title("the bus is loud", "greeting", trace_id=stopped)
        await title("half a thought", "draft", trace_id=stopped)
        assert kv_contents(kv) == {"draft": "Half A Thought", "greeting": "The Bus Is Loud"}
        assert kv.journal_size(stopped) == 2
        read = await orchestrator.dispatch_and_wait(
            neuron="reader", input={"prefix": ""}, timeout_s=DEADLINE_S
        )
        assert output_of(read) == {"keys": ["draft", "greeting"]}

        acks = await orchestrator.stop_trace(
            stopped, rollback=True, collect_acks=True, timeout_s=DEADLINE_S
        )
        by_node = {ack.payload["node"]: ack.payload for ack in acks}
        assert by_node["kv-host"]["compensated"] == 2
        assert by_node["kv-host"]["rolled_back"] is True
        assert kv_contents(kv) == {"greeting": "The Bus Is Calm"}
        assert kv.journal_size(stopped) == 0
        assert kv.rollback(stopped) == 0  # each journal entry runs at most once


def test_kv_key_rules() -> None:
    kv = Engram.of_kind("kv", engram_id="rules")
    assert kv.imprint(op="add", entry={"key": "a", "value": 1}).id == "a"
    with pytest.raises(EngramError, match="already exists"):
        kv.imprint(op="add", entry={"key": "a", "value": 2})
    with pytest.raises(EngramError, match="different keys"):
        kv.imprint(op="upsert", entry={"key": "a", "value": 2}, merge_key="b")
    with pytest.raises(EngramError, match="only 'key' and 'value'"):
        kv.imprint(op="upsert", entry={"value": 2, "colour": "red"}, merge_key="a")
    with pytest.raises(EngramError, match="'key' or 'prefix'"):
        kv.recall({"text": "a"})
    # upsert through merge_key alone, a merge, then an idempotent replay of the same write.
    kv.imprint(op="upsert", entry={"value": 2}, merge_key="a", imprint_id="w1")
    kv.imprint(op="upsert", entry={"value": 3}, merge_key="a", imprint_id="w1")
    kv.imprint(op="merge", entry={"key": "b", "value": [1]})
    assert kv_contents(kv) == {"a": 2, "b": [1]}
    assert [h.id for h in kv.recall({"prefix": "b"})] == ["b"]
    kv.imprint(op="delete", entry={"key": "a"})
    assert kv_contents(kv) == {"b": [1]}


# -- the example itself --------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["memory", "cosmo", "nats"])
def test_demo_prints_the_readme_output(transport: str, procs: ExampleProcesses) -> None:
    env = {} if transport == "memory" else {"SYNAPSE_URL": bus_url(transport, procs)}
    done = run_example(FOLDER, "demo.py", env=env)
    assert done.stdout == readme_output()
