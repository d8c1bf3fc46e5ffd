"""``serve_recording`` (``cosmo prism --recording``): a recording played into Prism's hub,
read back over real HTTP: every Signal of the namespace before any damage, in file order
and none dropped, other namespaces left out; in time with ``speed``."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cosmonapse import Signal, builders
from cosmonapse.subjects import signal_subject
from cosmonapse_prism.recording import read_recording, serve_recording

from .conftest import DEADLINE_S, SSEReader

NS = "rec"


def line(t: float, namespace: str, signal: Signal) -> bytes:
    subject = signal_subject(namespace, signal.type.value)
    return orjson.dumps({"t": t, "subject": subject, "signal": signal.to_dict()}) + b"\n"


def a_recording(path: Path, n: int) -> list[Signal]:
    tasks = [builders.task_signal(input={"i": i}, neuron="w") for i in range(n)]
    other = builders.task_signal(input={}, neuron="elsewhere")
    rows = [line(1000.0 + i * 0.01, NS, s) for i, s in enumerate(tasks)]
    rows.insert(1, line(1000.001, "other-ns", other))
    path.write_bytes(b"".join(rows))
    return tasks


@contextlib.asynccontextmanager
async def serving(path: Path, **options: Any) -> Any:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        serve_recording(path, port=0, open_browser=False, ready=ready, **options)
    )
    try:
        yield await asyncio.wait_for(ready, DEADLINE_S)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def streamed(url: str, count: int) -> list[dict[str, Any]]:
    """The Signals the page's stream sends: the history at connect, then live ones."""
    out: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(timeout=DEADLINE_S) as http,
        http.stream("GET", url + "events", headers={"accept": "text/event-stream"}) as response,
    ):
        assert response.status_code == 200
        reader = SSEReader(response)
        async with asyncio.timeout(DEADLINE_S):
            while len(out) < count:
                event, data = await reader.next_event()
                if event in ("replay", "signals"):
                    out.extend(data["signals"])
        return out


async def test_the_whole_recording_reaches_a_tab_opened_after_it_played(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    sent = a_recording(path, 1500)  # more than the hub's default history
    async with serving(path) as url:
        got = await streamed(url, len(sent))
        async with httpx.AsyncClient(timeout=DEADLINE_S) as http:
            info = (await http.get(url + "api/info")).json()
    assert [s["id"] for s in got] == [s.id for s in sent]
    assert info["namespace"] == NS and info["stats"]["received"] == len(sent)
    assert info["synapse"] == f"recording:{path}"


async def test_speed_plays_it_in_time_and_damage_stops_the_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.jsonl"
    sent = a_recording(path, 3)
    with path.open("ab") as file:
        file.write(b'{"t": 1000.5, "subj')
    frames, damage = read_recording(path)
    assert len(frames) == 4 and damage == (
        f"{path}:5: stopped reading here, the line is cut mid-way (the file ends inside it); "
        "using the 4 Signals before it"
    )
    async with serving(path, speed=100.0, namespace=NS) as url:
        got = await streamed(url, len(sent))
    assert [s["id"] for s in got] == [s.id for s in sent]
    assert capsys.readouterr().err == f"warning: {damage}\n"


async def test_a_recording_without_the_namespace_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    a_recording(path, 1)
    with pytest.raises(ValueError, match="no Signal of namespace absent"):
        await serve_recording(path, namespace="absent", port=0, open_browser=False)
