"""``cosmo trace`` on a real recording: ``cosmo record`` (a real process) records a
delegating workflow on a real dev synapse (a planner calls a fast Neuron that writes to an
Engram, a broken one that fails, and a slow one that blocks until the user STOPs the trace
with a rollback). The tree must nest the children under the planner, say who ran each and
for how long, show the ERROR's code, mark what the STOP cut and what it rolled back.

What each line must say is read from the recording itself (the ERROR's code, the STOPPED
acks), not written into the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    EngramBinding,
    InMemoryEngram,
    SignalType,
    TaskFailedError,
    TraceStoppedError,
    connect_synapse,
    new_trace_id,
)
from cosmonapse.recording import Frame, read_frames
from cosmonapse_cli.server import DevSynapseServer

COSMO = str(Path(sys.executable).with_name("cosmo"))
NS = "plan"
DEADLINE_S = 30.0  # hang guard only


async def planner(input: dict[str, Any], context: Any, *, call: Any) -> dict[str, Any]:
    await call(neuron="fast", input={"n": 1})
    with contextlib.suppress(TaskFailedError):
        await call(neuron="broken", input={})
    await call(neuron="slow", input={})  # cut by the STOP
    return {"done": True}


async def fast(input: dict[str, Any], context: Any, *, imprint: Any) -> dict[str, Any]:
    await imprint("notes", op="add", entry={"n": input["n"]}, await_ack=True, timeout_s=10)
    return {"n": input["n"]}


async def broken(input: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("the tool is down")


async def slow(input: dict[str, Any], context: Any) -> dict[str, Any]:
    await asyncio.Event().wait()  # blocked until the STOP cancels it
    return {}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"})
    return env


async def cosmo(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        COSMO,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), DEADLINE_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def recorded(path: Path) -> list[Frame]:
    return read_frames(path)[0] if path.exists() else []


async def until_recorded(path: Path, done: Any, what: str) -> list[Frame]:
    """Wait until the recording holds what ``done(frames)`` asks for (a file has no
    event to wait on, so it is read again until then)."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            while not done(frames := recorded(path)):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"the recording never held {what}") from None
    return frames


async def record_workflow(server: DevSynapseServer, path: Path) -> tuple[str, str]:
    """Record the workflow, stopped with a rollback; its trace id and another trace's."""
    rec = await asyncio.create_subprocess_exec(
        *(COSMO, "record", "--url", server.url, "-n", NS, "-o", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert rec.stderr is not None
    try:
        assert b"recording" in await asyncio.wait_for(rec.stderr.readline(), DEADLINE_S)
        app = await connect_synapse(server.url)
        hub = Dendrite(synapse=app, namespace=NS, dendrite_id="hub", role="worker", heartbeat_s=0)
        hub.attach_axon(Axon(neuron_id="planner", neuron_fn=planner))
        lab = Dendrite(synapse=app, namespace=NS, dendrite_id="lab", role="worker", heartbeat_s=0)
        notes = EngramBinding(name="notes", directed_id="notes")
        lab.attach_axon(Axon(neuron_id="fast", neuron_fn=fast, engrams=[notes]))
        lab.attach_axon(Axon(neuron_id="broken", neuron_fn=broken))
        lab.attach_axon(Axon(neuron_id="slow", neuron_fn=slow))
        store = Dendrite(
            synapse=app, namespace=NS, dendrite_id="store", role="worker", heartbeat_s=0
        )
        store.attach_engram(InMemoryEngram(engram_id="notes"))
        api = Dendrite(
            synapse=app, namespace=NS, dendrite_id="api", role="orchestrator", heartbeat_s=0
        )
        dendrites = [store, hub, lab, api]
        tid = new_trace_id()
        try:
            for d in dendrites:
                await d.start()
            other = await api.dispatch_and_wait(neuron="fast", input={"n": 0}, timeout_s=DEADLINE_S)
            root = asyncio.ensure_future(
                api.dispatch_and_wait(
                    neuron="planner", input={}, trace_id=tid, timeout_s=DEADLINE_S
                )
            )
            await until_recorded(
                path,
                lambda fs: any(
                    f.signal.type is SignalType.TASK and f.signal.neuron == "slow" for f in fs
                ),
                "the slow TASK",
            )
            await api.stop_trace(tid, rollback=True)
            with pytest.raises(TraceStoppedError):
                await asyncio.wait_for(root, DEADLINE_S)
            await until_recorded(
                path,
                lambda fs: (
                    {"hub", "lab", "store"}
                    <= {
                        f.signal.payload.get("node")
                        for f in fs
                        if f.signal.type is SignalType.STOPPED and f.signal.trace_id == tid
                    }
                ),
                "the STOPPED acks of hub, lab and store",
            )
        finally:
            for d in reversed(dendrites):
                await d.stop()
            await app.close()
    finally:
        if rec.returncode is None:
            rec.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(rec.communicate(), DEADLINE_S)
    assert rec.returncode == 0 and b"recorded" in err, err
    return tid, other.trace_id


def line_of(out: str, needle: str) -> str:
    found = [line for line in out.splitlines() if needle in line]
    assert len(found) == 1, (needle, out)
    return found[0]


def indent_of(line: str) -> int:
    """Where the label starts: after the tree's guides."""
    return next(i for i, ch in enumerate(line) if ch not in " │├└─")


async def test_trace_draws_the_delegation_the_error_and_what_the_stop_cut(
    server: DevSynapseServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    tid, _ = await record_workflow(server, path)
    frames = [f for f in read_frames(path)[0] if f.signal.trace_id == tid]
    error = next(f.signal for f in frames if f.signal.type is SignalType.ERROR)
    stopped = {
        f.signal.payload["node"]: f.signal.payload
        for f in frames
        if f.signal.type is SignalType.STOPPED
    }
    assert stopped["store"]["rolled_back"] and stopped["store"]["compensated"] == 1

    others = {f.signal.trace_id for f in read_frames(path)[0]} - {tid}
    unique = next(  # the shortest start of the id no other trace of the file shares
        tid[:n] for n in range(5, len(tid) + 1) if not any(o.startswith(tid[:n]) for o in others)
    )
    code, out, err = await cosmo("trace", str(path), unique)
    assert code == 0 and err == "", err
    print(out)
    lines = out.splitlines()
    assert lines[0].startswith(f"trace {tid}  namespace {NS}  {len(frames)} Signals")
    root = line_of(out, "planner from api")
    assert "✂ cut by STOP" in root and "ran by" not in root
    fast_line = line_of(out, "fast from planner (depth 1)")
    assert "ran by fast on lab" in fast_line and "AGENT_OUTPUT" in fast_line
    assert " ms " in fast_line or " s " in fast_line
    broken_line = line_of(out, "broken from planner (depth 1)")
    assert f"ERROR {error.payload['code']}" in broken_line and "the tool is down" in broken_line
    slow_line = line_of(out, "slow from planner (depth 1)")
    assert "✂ cut by STOP" in slow_line
    imprint = line_of(out, "IMPRINT notes (add)")
    for child in (fast_line, broken_line, slow_line):
        assert indent_of(child) == indent_of(root) + 4, out
    assert indent_of(imprint) == indent_of(fast_line) + 4
    assert lines.index(fast_line) < lines.index(broken_line) < lines.index(slow_line)
    stop = line_of(out, "STOP by api")
    assert "rollback: yes" in stop and indent_of(stop) == indent_of(root)
    store = line_of(out, "STOPPED store")
    assert "rolled back: 1 write undone" in store and indent_of(store) == indent_of(stop) + 4
    assert "cancelled 1" in line_of(out, "STOPPED lab")
    assert "rolled back: nothing to undo here" in line_of(out, "STOPPED hub")
    assert lines[-1].endswith(
        "4 TASKs, 2 answered, 1 with an ERROR, 2 cut by STOP, 1 write rolled back"
    ), out


async def test_trace_takes_the_doppler_end_and_lists_the_traces_it_does_not_find(
    server: DevSynapseServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    tid, other = await record_workflow(server, path)
    code, out, _ = await cosmo("trace", str(path), f"trc…{tid[-8:]}")
    assert code == 0 and out.startswith(f"trace {tid}")
    code, out, err = await cosmo("trace", str(path), "trc_NOSUCHTRACE")
    assert code == 1 and f"no trace 'trc_NOSUCHTRACE' in {path}" in err
    assert f"  {other}  {NS}  " in out and "root fast" in out
    assert f"  {tid}  {NS}  " in out and "root planner" in out
    shared = tid[: next(i for i, (a, b) in enumerate(zip(tid, other, strict=False)) if a != b)]
    code, out, err = await cosmo("trace", str(path), shared)
    assert code == 1 and "traces of" in err and "give more of the id" in err, err
    assert tid in out and other in out
