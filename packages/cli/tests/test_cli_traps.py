"""Traps a newcomer falls into, each driven through the real ``cosmo`` command.

* A viewer pointed at ``memory://`` (an in-process bus) would wait forever on a bus of its
  own: the Doppler and Prism refuse at once and say what to start instead.
* ``cosmo prism`` reads ``SYNAPSE_URL`` as the other commands do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

COSMO = str(Path(sys.executable).with_name("cosmo"))
DEADLINE_S = 60.0  # a hang guard for a CLI start on a loaded machine, not a timing check


def cosmo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "SYNAPSE_URL"}
    base.update({"NO_COLOR": "1", "COLUMNS": "200"})
    return subprocess.run(
        [COSMO, *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        stdin=subprocess.DEVNULL,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again before use: nothing listens


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["doppler", "--url", "memory://"], None),
        (["doppler", "-n", "demo"], {"SYNAPSE_URL": "memory://"}),
        (["doppler", "--prism", "-n", "demo", "--no-browser", "--url", "memory://"], None),
        (["prism", "-n", "demo", "--no-browser", "--url", "memory://"], None),
        (["prism", "-n", "demo", "--no-browser"], {"SYNAPSE_URL": "memory://"}),
    ],
    ids=["doppler", "doppler-env", "doppler-prism", "prism", "prism-env"],
)
def test_watching_an_in_process_bus_is_refused_with_what_to_do(
    args: list[str], env: dict[str, str] | None
) -> None:
    done = cosmo(*args, env=env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "in-process bus" in lines[0]
    assert "cannot be watched from another process" in lines[0]
    assert "cosmo synapse start memory" in lines[0]
    assert "cosmo://127.0.0.1:7070" in lines[0]


def test_prism_reads_synapse_url() -> None:
    port = closed_port()
    done = cosmo(
        "prism", "-n", "demo", "--no-browser", env={"SYNAPSE_URL": f"cosmo://127.0.0.1:{port}"}
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prism: "), done.stderr
    assert f":{port}" in lines[0]  # it tried the URL from the environment, not the default
