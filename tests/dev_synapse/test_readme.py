"""packages/cli/README.md's ten lines run as written: the bus, the worker and the TASK as
three processes."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import sys
from pathlib import Path

import orjson

README = Path(__file__).resolve().parents[2] / "packages" / "cli" / "README.md"
COSMO = str(Path(sys.executable).with_name("cosmo"))
DEFAULT_URL = "cosmo://127.0.0.1:7070"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(), flags=re.S)


async def _readline(stream: asyncio.StreamReader | None) -> str:
    assert stream is not None
    line = await asyncio.wait_for(stream.readline(), 30)
    assert line, "the process ended"
    return line.decode()


async def test_readme_example_runs_as_three_processes(tmp_path: Path) -> None:
    start_cmd, dispatch_cmd = (
        shlex.split(block.splitlines()[0].removeprefix("$ "))
        for block in _blocks("console")
        if block.startswith("$ cosmo synapse start") or block.startswith("$ cosmo dispatch")
    )
    (worker_code,) = [b for b in _blocks("python") if DEFAULT_URL in b and "Axon" in b]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    bus = await asyncio.create_subprocess_exec(
        COSMO,
        *start_cmd[1:],
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    worker = None
    try:
        url = re.search(r"cosmo://\S+", await _readline(bus.stdout))
        assert url is not None
        script = tmp_path / "worker.py"
        script.write_text(worker_code.replace(DEFAULT_URL, url.group(0)))
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert (await _readline(worker.stdout)).strip() == "doubler ready"

        dispatch = await asyncio.create_subprocess_exec(
            COSMO,
            *dispatch_cmd[1:],
            "--json",
            stdout=asyncio.subprocess.PIPE,
            env={**env, "SYNAPSE_URL": url.group(0)},
        )
        out, _ = await asyncio.wait_for(dispatch.communicate(), 60)
        assert dispatch.returncode == 0
        assert orjson.loads(out)["payload"]["output"] == {"n": 42}

        while not (await _readline(bus.stdout)).startswith("─"):  # the rest of the banner
            pass
        shown = [(await _readline(bus.stdout)).split()[1] for _ in range(3)]
        assert shown == ["REGISTER", "TASK", "AGENT_OUTPUT"]
    finally:
        for proc in (worker, bus):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
