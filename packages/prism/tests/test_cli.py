"""``cosmo prism`` / ``cosmo doppler --prism``: the command as typer mounts it, as the
Doppler calls it, and as a real process serving a real dev synapse."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import socket
import sys
from typing import Any

import httpx
import pytest
import typer
from cosmonapse import Signal, SignalType, connect_synapse
from cosmonapse.subjects import signal_subject
from cosmonapse_cli.server import DevSynapseServer
from cosmonapse_prism.cli import command
from typer.testing import CliRunner

DEADLINE_S = 20.0  # a hang guard for a process start on a busy machine


def test_command_takes_the_doppler_keywords():
    params = inspect.signature(command).parameters
    assert set(params) == {"namespace", "url", "port", "no_browser", "recording", "speed"}
    assert params["port"].default == 7071
    assert params["no_browser"].default is False
    assert params["namespace"].default is None  # required unless --recording names a file
    assert params["recording"].default is None and params["speed"].default is None


def test_typer_mounts_it_with_the_documented_options():
    app = typer.Typer()
    app.command("prism")(command)
    app.command("other")(lambda: None)  # two commands, so "prism" is a subcommand
    result = CliRunner().invoke(app, ["prism", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--url", "--namespace", "-n", "--port", "--no-browser"):
        assert option in result.output
    missing = CliRunner().invoke(app, ["prism"])
    assert missing.exit_code != 0
    assert "namespace" in missing.output.lower()


def test_unreachable_synapse_exits_1_with_one_line(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before use: nothing listens
    with pytest.raises(SystemExit) as exit_info:
        command(namespace="demo", url=f"cosmo://127.0.0.1:{port}", port=0, no_browser=True)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prism: ")


def test_a_missing_recording_exits_1_naming_the_file(tmp_path, capsys):
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        command(recording=missing, port=0, no_browser=True)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == f"prism: no recording at {missing}\n"


def test_a_taken_port_exits_1_saying_how_to_pick_a_free_one(tmp_path, capsys):
    recording = tmp_path / "run.jsonl"
    signal_ = Signal(type=SignalType.TASK, payload={"input": {}})
    row = {"t": 1.0, "subject": signal_subject("demo", "TASK"), "signal": signal_.to_dict()}
    recording.write_text(json.dumps(row) + "\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            command(recording=recording, port=port, no_browser=True)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"prism: cannot listen on 127.0.0.1:{port}: "), err
    assert "--port 0 picks any free one" in err


def _ignore_sigint() -> None:
    # What a shell does to a job it starts in the background.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


async def _start_prism(url: str, **options: Any) -> asyncio.subprocess.Process:
    """``python -m cosmonapse_prism`` on namespace cli-demo of ``url``, any free port."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "cosmonapse_prism", "-n", "cli-demo", "--url", url),
        *("--port", "0", "--no-browser"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        **options,
    )


async def _page_url(proc: asyncio.subprocess.Process) -> str:
    """The page URL from Prism's first stdout line."""
    assert proc.stdout is not None
    async with asyncio.timeout(DEADLINE_S):
        line = (await proc.stdout.readline()).decode()
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    assert match, line
    return match.group(1)


@pytest.mark.parametrize(
    ("signum", "preexec"),
    [(signal.SIGINT, _ignore_sigint), (signal.SIGTERM, None)],
    ids=["sigint-in-a-background-job", "sigterm"],
)
async def test_a_real_process_serves_a_dev_synapse_until_signalled(signum, preexec):
    async with DevSynapseServer("127.0.0.1", port=0) as bus:
        proc = await _start_prism(bus.url, preexec_fn=preexec)
        try:
            url = await _page_url(proc)
            publisher = await connect_synapse(bus.url)
            try:
                async with httpx.AsyncClient(timeout=DEADLINE_S) as http:
                    info = (await http.get(url + "api/info")).json()
                    assert info["namespace"] == "cli-demo"
                    assert info["synapse"] == bus.url
                    async with http.stream("GET", url + "events") as response:
                        lines = response.aiter_lines()
                        sent = Signal(type=SignalType.TASK, payload={"input": {"via": "cli"}})
                        seen = False
                        async with asyncio.timeout(DEADLINE_S):
                            async for text in lines:
                                if text == "event: stats" and not seen:
                                    seen = True
                                    await publisher.publish(
                                        signal_subject("cli-demo", "TASK"), sent.encode()
                                    )
                                if sent.id in text:
                                    break
            finally:
                await publisher.close()
            proc.send_signal(signum)
            async with asyncio.timeout(DEADLINE_S):
                code = await proc.wait()
            assert code == 0, (await proc.stderr.read()).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_a_lost_synapse_is_reported_and_the_page_stays_up():
    """When the client gives up reconnecting, the terminal says so in one line; the page
    keeps serving what it has and reports the synapse closed."""
    server = DevSynapseServer("127.0.0.1", port=0)
    await server.start()
    url = f"{server.url}?reconnect_attempts=3&reconnect_delay=0.01&reconnect_max_delay=0.05"
    proc = await _start_prism(url)
    try:
        page = await _page_url(proc)
        await server.close()
        async with asyncio.timeout(DEADLINE_S):
            while b"lost the synapse" not in (said := await proc.stderr.readline()):
                assert said, "stderr closed before the loss was reported"
        assert said.decode().startswith("prism: lost the synapse at cosmo://127.0.0.1:")
        async with httpx.AsyncClient(timeout=DEADLINE_S) as http:
            info = (await http.get(page + "api/info")).json()
        assert info["stats"]["synapse_closed"] is True
        assert proc.returncode is None
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE_S):
            assert await proc.wait() == 0
    finally:
        await server.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
