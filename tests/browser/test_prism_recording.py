"""Prism opens a recording in a real browser: ``cosmo record`` (a real process) records a
delegating workflow on a real dev synapse (a planner calls a helper, then a neuron that
blocks until the user STOPs the trace); the file is then cut mid-line, as a recorder
killed while writing leaves it; ``cosmo prism --recording`` (a real process) serves it.
The page must take in every Signal read before the damage, draw the trace's tree and mark
what the STOP cut; the command must say where it stopped reading.

Expected values come from the recording itself, read independently of Prism."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Signal,
    SignalType,
    TraceStoppedError,
    connect_synapse,
    new_trace_id,
)
from cosmonapse_cli.server import DevSynapseServer

from tests.browser.helpers import DEADLINE_S, wait_received, wait_trace_shown

pytestmark = pytest.mark.browser

COSMO = str(Path(sys.executable).with_name("cosmo"))
NS = "prism-recording"


async def planner(input: dict[str, Any], context: Any, *, call: Any) -> dict[str, Any]:
    await call(neuron="helper", input={"q": "tides"})
    await call(neuron="x", input={})  # blocked: the STOP cuts it
    return {}


async def helper(input: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"a": f"{input['q']} rise twice a day"}


async def x(input: dict[str, Any], context: Any) -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1"})
    return env


def frames(path: Path) -> list[dict[str, Any]]:
    """The whole lines of the file, parsed (a reader of its own, not Prism's)."""
    data = path.read_bytes() if path.exists() else b""
    return [orjson.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]


def recorded(path: Path) -> list[Signal]:
    return [Signal.from_dict(f["signal"]) for f in frames(path)]


async def until_recorded(path: Path, done: Any, what: str) -> list[Signal]:
    try:
        async with asyncio.timeout(DEADLINE_S):
            # a file has no event to wait on: read it again until it holds what is asked
            while not done(signals := recorded(path)):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"the recording never held {what}") from None
    return signals


async def record(bus: DevSynapseServer, path: Path) -> str:
    """Record the workflow, STOPped mid-way; its trace id."""
    rec = await asyncio.create_subprocess_exec(
        *(COSMO, "record", "--url", bus.url, "-n", NS, "-o", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert rec.stderr is not None
    tid = new_trace_id()
    try:
        assert b"recording" in await asyncio.wait_for(rec.stderr.readline(), DEADLINE_S)
        app = await connect_synapse(bus.url)
        hub = Dendrite(synapse=app, namespace=NS, dendrite_id="hub", role="worker", heartbeat_s=0)
        hub.attach_axon(Axon(neuron_id="planner", neuron_fn=planner))
        lab = Dendrite(synapse=app, namespace=NS, dendrite_id="lab", role="worker", heartbeat_s=0)
        lab.attach_axon(Axon(neuron_id="helper", neuron_fn=helper))
        lab.attach_axon(Axon(neuron_id="x", neuron_fn=x))
        api = Dendrite(
            synapse=app, namespace=NS, dendrite_id="api", role="orchestrator", heartbeat_s=0
        )
        dendrites = [hub, lab, api]
        try:
            for d in dendrites:
                await d.start()
            root = asyncio.ensure_future(
                api.dispatch_and_wait(neuron="planner", input={}, trace_id=tid, timeout_s=30)
            )
            await until_recorded(
                path,
                lambda ss: any(s.type is SignalType.TASK and s.neuron == "x" for s in ss),
                "the TASK to x",
            )
            await api.stop_trace(tid, reason="the user stopped it")
            with pytest.raises(TraceStoppedError):
                await asyncio.wait_for(root, DEADLINE_S)
            await until_recorded(
                path,
                lambda ss: (
                    {"api", "hub", "lab"}
                    <= {s.payload.get("node") for s in ss if s.type is SignalType.STOPPED}
                ),
                "the STOPPED acks",
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
    return tid


async def test_prism_shows_a_recording_cut_mid_line(open_page: Any, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    async with DevSynapseServer("127.0.0.1", port=0) as bus:
        tid = await record(bus, path)
    whole = recorded(path)
    lines = len(whole)
    with path.open("ab") as file:  # a recorder killed mid-write
        file.write(b'{"t":1796303107.5,"subject":"cosmonapse.prism-recording.TASK","sig')
    trace = [s for s in whole if s.trace_id == tid]
    tasks = {s.id: s for s in trace if s.type is SignalType.TASK}
    root = next(t for t in tasks.values() if t.parent_id is None)
    blocked = next(t for t in tasks.values() if t.neuron == "x")

    prism = await asyncio.create_subprocess_exec(
        *(COSMO, "prism", "--recording", str(path), "--port", "0", "--no-browser"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert prism.stdout is not None and prism.stderr is not None
    try:
        warning = (await asyncio.wait_for(prism.stderr.readline(), DEADLINE_S)).decode()
        assert warning.startswith(
            f"warning: {path}:{lines + 1}: stopped reading here, the line is cut mid-way"
        ), warning
        banner = (await asyncio.wait_for(prism.stdout.readline(), DEADLINE_S)).decode()
        found = re.match(r"Prism: (http://127\.0\.0\.1:\d+/)", banner)
        assert found, banner
        assert f"{lines} Signals of namespace {NS}" in banner, banner
        page, problems = await open_page(found.group(1))
        await wait_received(page, lines)
        await page.click(f'#trace-list [data-trace="{tid}"]')
        await wait_trace_shown(page, tid, len(trace))
        rows = await page.eval_on_selector_all(
            "#trace-tree .trow",
            "rows => rows.map(r => ({id: r.dataset.id, depth: Number(r.dataset.depth),"
            " cut: r.classList.contains('cut')}))",
        )
        assert {r["id"] for r in rows if r["cut"]} == {root.id, blocked.id}, rows
        depth = {r["id"]: r["depth"] for r in rows}
        assert depth[root.id] == 0 and depth[blocked.id] == 1
        summary = (await page.locator("#trace-summary").text_content()) or ""
        assert "2 cut by STOP" in summary, summary
        await page.screenshot(path=str(tmp_path / "prism-recording.png"))
        assert problems.items == []
    finally:
        prism.send_signal(signal.SIGTERM)
        await asyncio.wait_for(prism.communicate(), DEADLINE_S)
    assert prism.returncode == 0
