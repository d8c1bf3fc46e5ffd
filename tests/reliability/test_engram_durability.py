"""Durable Engrams against a real crash: an engram host process is SIGKILLed during a
stream of acknowledged imprints (``await_ack=True``) over a real dev synapse, and started
again on the same store file (docs/engrams.md, "Durable Engrams").

After the restart every acknowledged entry is there, a trace committed by FINAL before the
crash stays committed, and STOP with rollback of a trace left half-finished by the crash
compensates exactly that trace's writes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Engram,
    EngramBinding,
    EngramError,
    NeuronContext,
    SignalType,
    TraceStoppedError,
    connect_synapse,
    new_trace_id,
)

from tests.reliability._procs.handles import Child, ProcessGroup

HOST_SCRIPT = Path(__file__).with_name("_procs") / "engram_host.py"
NAMESPACE = "durability"
WAIT_S = 30.0  # hang guard for anything that should happen "soon" on a loaded box
HALF = 4  # writes of the trace the crash leaves half-finished
DONE = 3  # writes of the trace committed by FINAL before the crash
STREAM_BEFORE_KILL = 40  # acknowledged stream writes before the SIGKILL


def body(kind: str, i: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"i": i}
    if kind == "vector":
        entry["embedding"] = [1.0, float(i % 5) + 1.0, 2.0, 3.0]
    return entry


def stored_ids(kind: str, path: Path) -> set[str]:
    options: dict[str, Any] = {"dim": 4} if kind == "vector" else {}
    engram = Engram.of_kind(kind, engram_id="durable", path=path, **options)
    try:
        query = {"embedding": [1.0, 1.0, 1.0, 1.0]} if kind == "vector" else {}
        return {hit.id for hit in engram.recall(query, top_k=1_000_000)}
    finally:
        engram.close()  # type: ignore[attr-defined]


@pytest.fixture
async def procs(tmp_path: Path) -> AsyncIterator[ProcessGroup]:
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        await group.close()


@pytest.mark.parametrize("kind", ["sqlite", "vector"])
async def test_kill_9_keeps_every_acknowledged_imprint_and_the_saga_journal(
    kind: str, procs: ProcessGroup, tmp_path: Path
) -> None:
    store = tmp_path / f"{kind}.db"
    bus = await procs.dev_synapse()
    host = Child(
        "engram-host",
        [sys.executable, str(HOST_SCRIPT), bus.url, NAMESPACE, kind, str(store)],
        procs.log_dir,
    )
    procs.children.append(host)
    await host.spawn()
    await host.wait_for(rf"^ready {host.pid} 0$")

    acked: dict[str, list[str]] = {"done": [], "half": [], "stream": []}
    half_written = asyncio.Event()
    streaming = asyncio.Event()  # set once STREAM_BEFORE_KILL stream writes are acked

    async def writer(
        input: Mapping[str, Any], context: NeuronContext, *, imprint: Any
    ) -> dict[str, Any]:
        name = input["name"]
        for i in range(input["count"]):
            entry_id = f"{name}-{i}"
            try:
                await imprint(
                    "store",
                    op="add",
                    entry={"id": entry_id, **body(kind, i)},
                    await_ack=True,
                    timeout_s=2.0,
                )
            except EngramError:  # the host is gone: this write was never acknowledged
                return {"acked": len(acked[name]), "cut": True}
            acked[name].append(entry_id)
            if name == "stream" and len(acked[name]) == STREAM_BEFORE_KILL:
                streaming.set()
        if input.get("hold"):
            half_written.set()
            await asyncio.sleep(WAIT_S * 4)  # half-finished: held until its trace is STOPped
        return {"acked": len(acked[name])}

    synapse = await connect_synapse(bus.url, reconnect_delay=0.05, reconnect_max_delay=0.5)
    worker = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="writers", role="worker")
    worker.attach_axon(
        Axon(
            neuron_id="writer",
            neuron_fn=writer,
            engrams=[EngramBinding(name="store", directed_id="durable")],
        )
    )
    orch = Dendrite(synapse=synapse, namespace=NAMESPACE, dendrite_id="api", role="orchestrator")
    await worker.start()
    await orch.start()
    try:
        done = await orch.dispatch_and_wait(
            neuron="writer", input={"name": "done", "count": DONE}, finalize=True, timeout_s=WAIT_S
        )
        assert done.type is SignalType.FINAL

        half_trace = new_trace_id()
        half = asyncio.create_task(
            orch.dispatch_and_wait(
                neuron="writer",
                input={"name": "half", "count": HALF, "hold": True},
                trace_id=half_trace,
                timeout_s=WAIT_S * 4,
            )
        )
        await asyncio.wait_for(half_written.wait(), WAIT_S)

        stream = asyncio.create_task(
            orch.dispatch_and_wait(
                neuron="writer", input={"name": "stream", "count": 1_000_000}, timeout_s=WAIT_S * 2
            )
        )
        await asyncio.wait_for(streaming.wait(), WAIT_S)
        await host.kill()  # SIGKILL, in the middle of the stream
        cut = await stream
        assert cut.payload["output"]["cut"] is True
        streamed = len(acked["stream"])

        await host.spawn()  # the lock died with the process: the same file opens again
        ready = await host.wait_for(rf"^ready {host.pid} (\d+)$")
        restored = int(ready.group(1))
        # Every acknowledged write is back; at most the one in flight at the kill was
        # committed without its acknowledgement reaching the writer.
        assert DONE + HALF + streamed <= restored <= DONE + HALF + streamed + 1

        acks = await orch.stop_trace(half_trace, rollback=True, collect_acks=True, timeout_s=5)
        by_node = {a.payload["node"]: a.payload for a in acks}
        assert by_node["engram-host"]["compensated"] == HALF
        with pytest.raises(TraceStoppedError):
            await half
        # FINAL committed the first trace before the crash: nothing to roll back.
        committed = await orch.stop_trace(
            done.trace_id, rollback=True, collect_acks=True, timeout_s=0.5
        )
        assert sum(a.payload.get("compensated", 0) for a in committed) == 0
    finally:
        await orch.stop()
        await worker.stop()
        await synapse.close()

    assert await host.finish() == 0
    ids = stored_ids(kind, store)
    assert set(acked["done"]) | set(acked["stream"]) <= ids
    assert not set(acked["half"]) & ids  # exactly the half-finished trace was compensated
    assert ids - set(acked["done"]) - set(acked["stream"]) <= {f"stream-{streamed}"}


async def test_a_second_host_on_the_same_store_is_refused(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    store = tmp_path / "kv.db"
    bus = await procs.dev_synapse()
    args = [sys.executable, str(HOST_SCRIPT), bus.url, NAMESPACE, "sqlite", str(store)]
    first = Child("first-host", args, procs.log_dir)
    second = Child("second-host", args, procs.log_dir)
    procs.children += [first, second]
    await first.spawn()
    await first.wait_for(rf"^ready {first.pid} 0$")
    await second.spawn()
    refused = await second.wait_for(r"^refused (.*)$")
    assert "in use by another engram host" in refused.group(1) and str(store) in refused.group(1)
    assert second.process is not None
    assert await asyncio.wait_for(second.process.wait(), WAIT_S) == 3
    assert first.running
