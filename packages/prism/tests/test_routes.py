"""From -> to: Prism's server attaches each Signal's route (cosmonapse.route_of, the rule
``cosmo doppler`` uses) to the frame it streams, and the page's model takes it from there.

The page side runs the real ``static/js/model.js`` under node on the frames the stream sent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cosmonapse_prism
import pytest
from cosmonapse import Signal, SignalType
from cosmonapse.builders import (
    agent_output_signal,
    imprint_signal,
    imprinted_signal,
    stop_signal,
    stopped_signal,
    task_signal,
)
from cosmonapse.subjects import signal_subject

NAMESPACE = "prism-test"  # as in conftest.py
MODEL_JS = Path(cosmonapse_prism.__file__).with_name("static") / "js" / "model.js"


def a_workflow() -> list[Signal]:
    run = task_signal(input={"prompt": "x"}, neuron="ingester", meta={"node": "api"})
    imprint = imprint_signal(
        engram_id="retry-vectors", op="add", entry={}, trace_id=run.trace_id, parent_id=run.id
    )
    imprinted = imprinted_signal(
        imprint, engram_id="retry-vectors", op="add", entry_id="e1", version=1, took_ms=0.1
    )
    output = agent_output_signal(run, output={"ok": True}, producer="ingester")
    stop = stop_signal(trace_id=run.trace_id, producer="api")
    acked = stopped_signal(stop, node="worker-host", rolled_back=False, cancelled=0, compensated=0)
    final = run.reply(SignalType.FINAL, {"result": {}})
    return [run, imprint, imprinted, output, stop, acked, final]


ROUTES = [
    ["api", "ingester"],
    ["ingester", "retry-vectors"],
    ["retry-vectors", "ingester"],
    ["ingester", "api"],
    ["api", "all"],
    ["worker-host", "api"],
    ["api", "*"],  # a FINAL without a producer: its parent's sender
]


async def streamed(start_prism, open_stream, synapse) -> list[dict[str, Any]]:
    server = await start_prism()
    signals = a_workflow()
    async with open_stream(server) as (_, reader):
        await reader.until(lambda e, _: e == "stats")
        for sig in signals:
            await synapse.publish(signal_subject(NAMESPACE, sig.type.value), sig.encode())
        got: list[dict[str, Any]] = await reader.signals(len(signals))
    assert [frame["id"] for frame in got] == [s.id for s in signals]
    return got


async def test_each_streamed_signal_carries_its_route(start_prism, open_stream, synapse) -> None:
    got = await streamed(start_prism, open_stream, synapse)
    assert [[frame["prism_from"], frame["prism_to"]] for frame in got] == ROUTES
    # the rest of the frame is still the Signal, unchanged
    assert [Signal.decode(json.dumps(frame)).id for frame in got] == [f["id"] for f in got]


def page_routes(frames: list[dict[str, Any]]) -> list[list[str | None]]:
    """``[from, to]`` of each frame as the page's model fills them (parents by id)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("these tests run Prism's model.js under node: apt-get install -y nodejs")
    script = f"""
import {{ makeEntry, route }} from {json.dumps(MODEL_JS.as_uri())};
const frames = JSON.parse(process.argv[1]);
const index = new Map();
const out = [];
for (const sig of frames) {{
  const e = makeEntry(sig, false, 0);
  route(e, e.parent ? index.get(e.parent) : undefined);
  index.set(e.id, e);
  out.push([e.from, e.to]);
}}
console.log(JSON.stringify(out));
"""
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(frames)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: list[list[str | None]] = json.loads(done.stdout)
    return result


async def test_the_page_shows_the_route_the_server_sent(start_prism, open_stream, synapse) -> None:
    got = await streamed(start_prism, open_stream, synapse)
    # "*" (whoever listens) and "?" name no one: the page keeps those ends empty
    expected = [[a, None if b in ("*", "?") else b] for a, b in ROUTES]
    assert page_routes(got) == expected
    # a frame the server sent without a route still gets one, by the page's own inference
    bare = [{k: v for k, v in f.items() if not k.startswith("prism_")} for f in got]
    assert page_routes(bare)[4] == ["api", "all"]
    # and the server's answer wins over that inference where they would differ
    renamed = [dict(f, prism_from="someone", prism_to="else") for f in got]
    assert page_routes(renamed)[0] == ["someone", "else"]
