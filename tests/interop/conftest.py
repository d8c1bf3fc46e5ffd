"""Fixtures for interop with the published cosmonapse 0.1.14: a virtualenv of its own
(its distribution is also named ``cosmonapse``), built once from the package index and
cached under the pytest cache, and peer processes run by that venv's python that each test
owns: started with deadlines, stopped on teardown, their stderr shown when a test fails."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.nats_servers import NatsServer

PUBLISHED_VERSION = "0.1.14"
REQUIREMENTS = (f"cosmonapse=={PUBLISHED_VERSION}", "nats-py")
PEERS = Path(__file__).with_name("peers")
BUILD_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

_CHECK = (
    "import importlib.metadata as m, cosmonapse, nats; "
    f"assert m.version('cosmonapse') == {PUBLISHED_VERSION!r}, m.version('cosmonapse')"
)


def _venv_python(root: Path) -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return root / scripts / ("python.exe" if sys.platform == "win32" else "python")


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    try:
        done = subprocess.run(
            [str(python), "-c", _CHECK], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _build(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    python = _venv_python(root)
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(
            f"installing {' '.join(REQUIREMENTS)} from the package index took over "
            f"{BUILD_TIMEOUT_S:g} s; is the index reachable (pip config, network)?",
            pytrace=False,
        )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(
            f"could not install {' '.join(REQUIREMENTS)} from the package index "
            f"(pip exited {done.returncode}); the interop tests need the published "
            f"cosmonapse {PUBLISHED_VERSION}. pip said:\n{done.stderr[-3000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def published_python(pytestconfig: pytest.Config) -> Path:
    """The python of a venv holding the published cosmonapse (and nats-py), built on
    first use and reused while it still imports; rebuilt when it is broken."""
    assert pytestconfig.cache is not None
    root = pytestconfig.cache.mkdir(f"interop-cosmonapse-{PUBLISHED_VERSION}")
    python = _venv_python(root)
    if not _works(python):
        _build(root)
        if not _works(python):
            pytest.fail(
                f"the venv at {root} was built but cannot import cosmonapse "
                f"{PUBLISHED_VERSION} and nats",
                pytrace=False,
            )
    return python


class Peer:
    """One owned process of the published side, with its stdout read line by line."""

    def __init__(
        self, name: str, proc: asyncio.subprocess.Process, stderr: Path, *, stdin_stops: bool
    ) -> None:
        self.name = name
        self.stdin_stops = stdin_stops
        self.proc = proc
        self.stderr_path = stderr

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def context(self) -> str:
        return f"{self.name} (exit {self.proc.returncode}) stderr:\n{self.stderr()}"

    async def line(self, within: float = READY_TIMEOUT_S) -> str:
        """The next stdout line; fails with the peer's stderr on EOF or after ``within``."""
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), within)
        except TimeoutError:
            pytest.fail(f"no line from {self.name} within {within:g} s; {self.context()}")
        if not raw:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
            pytest.fail(f"{self.name} ended its output; {self.context()}")
        return raw.decode(errors="replace").rstrip("\n")

    async def wait_for_line(self, predicate: Callable[[str], bool]) -> str:
        """Read lines until one satisfies ``predicate`` (within the ready deadline)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while True:
            line = await self.line(max(deadline - loop.time(), 0.01))
            if predicate(line):
                return line

    async def drain(self) -> None:
        """Read and discard stdout until the peer ends it (so a chatty peer never
        blocks on a full pipe)."""
        assert self.proc.stdout is not None
        while await self.proc.stdout.read(65_536):
            pass

    async def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        """Close stdin (the cue of the peers/ scripts to stop), then terminate, then
        kill, each with a bounded wait."""
        proc = self.proc
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        ends = (
            (None, proc.terminate, proc.kill) if self.stdin_stops else (proc.terminate, proc.kill)
        )
        for end in ends:
            if proc.returncode is not None:
                break
            if end is not None:
                with contextlib.suppress(ProcessLookupError):
                    end()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)


StartPeer = Callable[..., Awaitable[Peer]]


@pytest.fixture
async def start_peer(published_python: Path, tmp_path: Path) -> AsyncIterator[StartPeer]:
    """``await start_peer(name, script_or_args...)`` runs the published venv's python (a
    script of peers/ by file name, or other interpreter arguments such as ``-c CODE``;
    ``stdin_stops=False`` for a peer that does not stop when its stdin closes); every
    peer is stopped after the test and its stderr printed (pytest shows it when the test
    fails)."""
    peers: list[Peer] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)

    async def start(name: str, *args: str, stdin_stops: bool = True) -> Peer:
        first = str(PEERS / args[0]) if args[0].endswith(".py") else args[0]
        stderr = tmp_path / f"{name}-{len(peers)}.stderr"
        with stderr.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                str(published_python),
                first,
                *args[1:],
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=tmp_path,
            )
        peer = Peer(name, proc, stderr, stdin_stops=stdin_stops)
        peers.append(peer)
        return peer

    try:
        yield start
    finally:
        for peer in peers:
            await peer.stop()
            text = peer.stderr()
            if text:
                print(f"--- stderr of {peer.name} ---\n{text}", file=sys.stderr)


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server
