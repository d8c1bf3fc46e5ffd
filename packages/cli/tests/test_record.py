"""``cosmo record`` and ``cosmo replay`` as real processes on a real dev synapse: every
Signal of the namespace lands in the file with its arrival time, the bounds stop the
recorder and say so, SIGTERM ends it with a summary; a replay publishes the recording
back (into another namespace, keeping its timing scaled by --speed) or prints it with the
Doppler's lines; a damaged file is used up to the damage, with one line saying where."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cosmonapse import Signal, builders, connect_synapse
from cosmonapse.recording import encode_frame
from cosmonapse.subjects import namespace_wildcard, signal_subject
from cosmonapse_cli.server import DevSynapseServer

COSMO = str(Path(sys.executable).with_name("cosmo"))
NS = "rec"
DEADLINE_S = 30.0  # hang guard only


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.pop("SYNAPSE_URL", None)
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", **extra})
    return env


async def cosmo(*args: str, **env: str) -> tuple[int, str, str]:
    """Run ``cosmo ARGS`` to the end: exit status, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        COSMO,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(**env),
    )
    out, err = await asyncio.wait_for(proc.communicate(), DEADLINE_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_recorder(url: str, path: Path, *args: str) -> asyncio.subprocess.Process:
    """``cosmo record`` on ``url``, returned once it says it is recording."""
    proc = await asyncio.create_subprocess_exec(
        *(COSMO, "record", "--url", url, "-n", NS, "-o", str(path), *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    assert proc.stderr is not None
    ready = await asyncio.wait_for(proc.stderr.readline(), DEADLINE_S)
    assert b"recording namespace rec" in ready, ready
    return proc


async def until(done: Callable[[], bool], what: str) -> None:
    """Wait until ``done()`` holds (files and processes have no event to wait on)."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            while not done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"never saw {what}") from None


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def finish(proc: asyncio.subprocess.Process, sig: int | None = None) -> tuple[int, str]:
    if sig is not None:
        proc.send_signal(sig)
    _, err = await asyncio.wait_for(proc.communicate(), DEADLINE_S)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def a_conversation() -> list[Signal]:
    task = builders.task_signal(input={"n": 21}, neuron="doubler", meta={"node": "api"})
    out = builders.agent_output_signal(task, output={"n": 42}, producer="doubler")
    again = builders.task_signal(input={"n": 1}, neuron="doubler", meta={"node": "api"})
    stop = builders.stop_signal(trace_id=again.trace_id, producer="api")
    return [task, out, again, stop]


async def record_conversation(server: DevSynapseServer, path: Path) -> list[Signal]:
    """Record :func:`a_conversation` with the real command; the Signals sent."""
    proc = await start_recorder(server.url, path)
    app = await connect_synapse(server.url)
    sent = a_conversation()
    try:
        for s in sent:
            await app.publish(signal_subject(NS, s.type.value), s.encode())
        await until(lambda: lines_in(path) == len(sent), "every Signal in the file")
    finally:
        await app.close()
    code, _ = await finish(proc, signal.SIGTERM)
    assert code == 0
    return sent


class Listener:
    def __init__(self) -> None:
        self.got: list[tuple[float, str, Signal]] = []

    async def __call__(self, subject: str, data: bytes) -> None:
        self.got.append((time.monotonic(), subject, Signal.decode(data)))


async def test_record_writes_each_signal_with_its_arrival_time_until_sigterm(
    server: DevSynapseServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    proc = await start_recorder(server.url, path)
    app = await connect_synapse(server.url)
    sent = a_conversation()
    before = time.time()
    try:
        await app.publish(signal_subject("elsewhere", "TASK"), sent[0].encode())
        await app.publish(signal_subject(NS, "TASK"), b'{"not": "a signal"}')
        for s in sent:
            await app.publish(signal_subject(NS, s.type.value), s.encode())
        await until(lambda: lines_in(path) == len(sent), "every Signal in the file")
    finally:
        await app.close()
    after = time.time()
    code, err = await finish(proc, signal.SIGTERM)
    assert code == 0, err
    size = path.stat().st_size
    assert err.strip().splitlines()[-1] == (
        f"recorded 4 Signals ({size} bytes) to {path}; skipped 1 frames that are not Signals"
    ), err
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [Signal.from_dict(r["signal"]) for r in rows] == sent
    assert [r["subject"] for r in rows] == [signal_subject(NS, s.type.value) for s in sent]
    times = [r["t"] for r in rows]
    assert times == sorted(times) and before <= times[0] and times[-1] <= after


async def test_record_stops_at_its_bounds_and_says_which(
    server: DevSynapseServer, tmp_path: Path
) -> None:
    app = await connect_synapse(server.url)
    try:
        by_count = tmp_path / "count.jsonl"
        proc = await start_recorder(server.url, by_count, "--max-signals", "3")
        for s in a_conversation():
            await app.publish(signal_subject(NS, s.type.value), s.encode())
        code, err = await finish(proc)  # it ends by itself
        assert code == 0, err
        assert "stopped recording: it reached --max-signals 3" in err
        assert lines_in(by_count) == 3 and "recorded 3 Signals" in err

        one = len(encode_frame(time.time(), signal_subject(NS, "TASK"), a_conversation()[0]))
        by_size = tmp_path / "size.jsonl"
        limit = one * 2 + one // 2
        proc = await start_recorder(server.url, by_size, "--max-bytes", str(limit))
        for _ in range(3):
            task = builders.task_signal(input={"n": 21}, neuron="doubler", meta={"node": "api"})
            await app.publish(signal_subject(NS, "TASK"), task.encode())
        code, err = await finish(proc)
        assert code == 0, err
        assert f"would take the file past --max-bytes {limit}" in err
        assert lines_in(by_size) == 2 and by_size.stat().st_size <= limit
    finally:
        await app.close()


async def test_record_and_replay_refuse_an_in_process_bus(tmp_path: Path) -> None:
    for args, env in (
        (("record", "-n", NS, "-o", str(tmp_path / "x.jsonl"), "--url", "memory://"), {}),
        (("record", "-n", NS, "-o", str(tmp_path / "x.jsonl")), {"SYNAPSE_URL": "memory://"}),
    ):
        code, _, err = await cosmo(*args, **env)
        assert code == 1 and "in-process bus" in err and "cosmo synapse start" in err, err
    assert not (tmp_path / "x.jsonl").exists()
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"")
    code, _, err = await cosmo("replay", str(path), "--url", "memory://")
    assert code == 1 and "in-process bus" in err, err


async def test_replay_publishes_the_recording_into_another_namespace(
    server: DevSynapseServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    sent = await record_conversation(server, path)
    listener = Listener()
    app = await connect_synapse(server.url)
    try:
        await app.subscribe(namespace_wildcard("again"), listener)
        code, _, err = await cosmo(
            "replay", str(path), "--url", server.url, "-n", "again", "--as-fast-as-possible"
        )
        assert code == 0, err
        assert f"replayed 4 Signals from {path} onto {server.url}" in err
        await until(lambda: len(listener.got) == len(sent), "the replayed Signals")
    finally:
        await app.close()
    assert [s for _, _, s in listener.got] == sent
    assert [subject for _, subject, _ in listener.got] == [
        signal_subject("again", s.type.value) for s in sent
    ]


async def test_replay_keeps_the_timing_scaled_by_speed(
    server: DevSynapseServer, tmp_path: Path
) -> None:
    path = tmp_path / "timed.jsonl"
    sent = a_conversation()[:3]
    path.write_bytes(
        b"".join(
            encode_frame(1_000.0 + 0.6 * i, signal_subject(NS, s.type.value), s)
            for i, s in enumerate(sent)
        )
    )
    listener = Listener()
    app = await connect_synapse(server.url)
    try:
        await app.subscribe(namespace_wildcard(NS), listener)
        code, _, err = await cosmo("replay", str(path), "--url", server.url, "--speed", "2")
        assert code == 0, err
        await until(lambda: len(listener.got) == 3, "the replayed Signals")
    finally:
        await app.close()
    arrivals = [when for when, _, _ in listener.got]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap >= 0.3 - 0.02 for gap in gaps), gaps  # 0.6 s apart, at speed 2


async def test_replay_prints_the_doppler_lines(server: DevSynapseServer, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    sent = await record_conversation(server, path)
    code, out, err = await cosmo(
        "replay", str(path), "--doppler", "--as-fast-as-possible", COLUMNS="120"
    )
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert [line.split()[1] for line in lines] == ["TASK", "AGENT_OUTPUT", "TASK", "STOP", "STOP"]
    assert "api -> doubler" in lines[0] and "doubler -> api" in lines[1]
    assert f"trc…{sent[0].trace_id[-8:]}" in lines[0]
    assert lines[4].split()[1:3] == ["STOP", "cut"] and "1 open TASK: doubler (root)" in lines[4]


def _damaged(good: bytes, how: str) -> tuple[bytes, int, str]:
    """``good`` damaged ``how``: the bytes, the line it stops at, what the line says."""
    lines = good.splitlines(keepends=True)
    if how == "cut":
        return good[:-12], len(lines), "the line is cut mid-way"
    if how == "not json":
        return b"".join([lines[0], b"this is not json\n", *lines[1:]]), 2, "the line is not JSON"
    row: dict[str, Any] = orjson.loads(lines[2])
    if how == "envelope":
        row["signal"]["type"] = "NOT_A_TYPE"
        why = "its 'signal' is not a valid Signal"
    else:
        del row["t"]
        why = "the line has no arrival time 't'"
    return b"".join([*lines[:2], orjson.dumps(row) + b"\n", *lines[3:]]), 3, why


@pytest.mark.parametrize("how", ["cut", "not json", "envelope", "no time"])
async def test_a_damaged_recording_is_used_up_to_the_damage(
    server: DevSynapseServer, tmp_path: Path, how: str
) -> None:
    good = tmp_path / "good.jsonl"
    sent = await record_conversation(server, good)
    path = tmp_path / "bad.jsonl"
    data, stops_at, why = _damaged(good.read_bytes(), how)
    path.write_bytes(data)
    kept = stops_at - 1
    warning = f"warning: {path}:{stops_at}: stopped reading here, {why}"
    code, out, err = await cosmo("replay", str(path), "--doppler", "--as-fast-as-possible")
    assert code == 0, err
    assert len(out.splitlines()) == kept
    assert err.startswith(warning) and len(err.splitlines()) == 1, err
    assert f"using the {kept} Signal{'s' if kept != 1 else ''} before it" in err

    listener = Listener()
    app = await connect_synapse(server.url)
    try:
        await app.subscribe(namespace_wildcard(NS), listener)
        code, _, err = await cosmo(
            "replay", str(path), "--url", server.url, "--as-fast-as-possible"
        )
        assert code == 0 and err.startswith(warning), err
        assert f"replayed {kept} Signal" in err
        await until(lambda: len(listener.got) == kept, "the Signals before the damage")
    finally:
        await app.close()
    assert [s for _, _, s in listener.got] == sent[:kept]

    code, out, err = await cosmo("trace", str(path), sent[0].trace_id)
    assert code == 0 and err.startswith(warning), err
    assert out.startswith(f"trace {sent[0].trace_id}")


@pytest.mark.parametrize("content", [b"", b"# not a recording\n"], ids=["empty", "not json"])
async def test_replay_of_a_file_with_no_signal_exits_1(
    server: DevSynapseServer, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "nothing.jsonl"
    path.write_bytes(content)
    for where in (["--doppler"], ["--url", server.url]):
        code, out, err = await cosmo("replay", str(path), *where, "--as-fast-as-possible")
        assert code == 1, (where, err)
        assert out == ""
        assert err.splitlines()[-1] == f"error: {path} holds no Signal to replay", err


async def test_record_leaves_the_file_alone_when_the_synapse_cannot_be_reached(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before use: nothing listens
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"an earlier recording\n")
    code, _, err = await cosmo(
        "record", "-n", NS, "-o", str(path), "--url", f"cosmo://127.0.0.1:{port}?reconnect=false"
    )
    assert code == 1 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert path.read_bytes() == b"an earlier recording\n"


async def test_record_says_when_it_cannot_write_the_file(
    server: DevSynapseServer, tmp_path: Path
) -> None:
    target = tmp_path / "no-such-dir" / "run.jsonl"
    code, _, err = await cosmo("record", "-n", NS, "-o", str(target), "--url", server.url)
    assert code == 1 and err.startswith(f"error: cannot write {target}"), err
