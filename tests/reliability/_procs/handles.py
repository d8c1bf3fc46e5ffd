"""Handles on the real processes the reliability tests start, kill and restart.

* :class:`Child` is one process whose stdout and stderr go to files (never a pipe, so a
  chatty child can never block on a full pipe while a test is busy elsewhere).
* :class:`DevSynapseProcess` is ``cosmo synapse start memory --quiet`` on a free port, as a
  person runs it; it can be SIGKILLed and started again on the same port, and reports its
  resident memory from ``/proc``.
* :class:`WorkerProcess` runs ``worker.py`` (next to this file): a Dendrite hosting a
  Neuron that holds every TASK until the process gets SIGUSR1.

Every wait has a deadline (a hang guard, never a timing assertion). :meth:`Child.close`
always leaves no process behind: SIGTERM, then SIGKILL when it lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

__all__ = [
    "COSMO",
    "WORKER_SCRIPT",
    "Child",
    "DevSynapseProcess",
    "ProcessGroup",
    "WorkerProcess",
    "child_env",
]

COSMO = str(Path(sys.executable).with_name("cosmo"))
WORKER_SCRIPT = Path(__file__).with_name("worker.py")

START_TIMEOUT_S = 30.0  # a loaded 2-core box may take seconds to import a CLI
EXIT_TIMEOUT_S = 10.0
_POLL_S = 0.02


def child_env() -> dict[str, str]:
    """This environment, unbuffered, without a bus URL a developer may have exported."""
    env = {k: v for k, v in os.environ.items() if k not in ("SYNAPSE_URL", "FORCE_COLOR")}
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    return env


class Child:
    """One child process; ``args`` are run with stdout and stderr in ``log_dir``."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self.process: asyncio.subprocess.Process | None = None
        self._starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def spawn(self) -> None:
        """Start the process (again, if it ran before: the log files are appended to)."""
        assert not self.running, f"{self.name} is already running"
        self._starts += 1
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = await asyncio.create_subprocess_exec(
                *self.args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=child_env(),
            )

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def find(self, pattern: str) -> re.Match[str] | None:
        """The first stdout line matching ``pattern`` so far, or None."""
        return re.search(pattern, self.stdout(), re.MULTILINE)

    async def wait_for(self, pattern: str, *, within: float = START_TIMEOUT_S) -> re.Match[str]:
        """Wait until a stdout line matches ``pattern``. Fails with the child's output if
        it exits first or the deadline passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = self.find(pattern)
            if found is not None:
                return found
            if not self.running:
                raise AssertionError(f"{self.name} exited before printing {pattern!r}\n{self}")
            if loop.time() > deadline:
                raise AssertionError(f"{self.name} did not print {pattern!r} in {within} s\n{self}")
            await asyncio.sleep(_POLL_S)

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None and self.running, f"{self.name} is not running"
        self.process.send_signal(sig)

    async def kill(self) -> int:
        """SIGKILL (a crash: no goodbye to anyone) and reap; returns the exit status."""
        process = self.process
        assert process is not None
        if process.returncode is None:
            process.kill()
        return await asyncio.wait_for(process.wait(), EXIT_TIMEOUT_S)

    async def finish(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Ask the process to end with ``sig`` and reap it; SIGKILL if it lingers."""
        process = self.process
        assert process is not None
        if process.returncode is None:
            process.send_signal(sig)
            try:
                await asyncio.wait_for(process.wait(), EXIT_TIMEOUT_S)
            except TimeoutError:
                process.kill()
        return await asyncio.wait_for(process.wait(), EXIT_TIMEOUT_S)

    async def close(self) -> None:
        """End the process whatever state it is in. Idempotent; never raises."""
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            await self.finish()

    def __str__(self) -> str:
        return (
            f"--- {self.name} ({' '.join(self.args)}) ---\n"
            f"stdout:\n{self.stdout()[-3000:]}\nstderr:\n{self.stderr()[-3000:]}"
        )


class DevSynapseProcess(Child):
    """``cosmo synapse start memory --quiet`` in its own process (``extra`` options are
    appended). :meth:`start` picks a free port the first time and keeps it after."""

    def __init__(self, log_dir: Path, *extra: str, name: str = "dev-synapse") -> None:
        super().__init__(name, [], log_dir)
        self.extra = list(extra)
        self.port = 0

    @property
    def url(self) -> str:
        assert self.port, "start the dev synapse first"
        return f"cosmo://127.0.0.1:{self.port}"

    async def start(self) -> DevSynapseProcess:
        """Start listening (on the port it had before, if any); return once the banner
        says where. The banner is printed after the socket is bound."""
        self.args = [COSMO, "synapse", "start", "memory", "--quiet", "--port", str(self.port)]
        self.args += self.extra
        seen = len(re.findall(r"^URL:", self.stdout(), re.MULTILINE))
        await self.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while True:
            urls = re.findall(r"^URL:\s+cosmo://127\.0\.0\.1:(\d+)\s*$", self.stdout(), re.M)
            if len(urls) > seen:
                self.port = int(urls[-1])
                return self
            if not self.running or loop.time() > deadline:
                raise AssertionError(f"the dev synapse did not start\n{self}")
            await asyncio.sleep(_POLL_S)

    async def restart(self) -> DevSynapseProcess:
        """SIGKILL, then a new process on the same port."""
        await self.kill()
        return await self.start()

    def rss_bytes(self) -> int:
        """Resident memory now (``VmRSS`` of ``/proc/<pid>/status``), in bytes."""
        return _proc_status_kib(self.pid, "VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        """The high-water mark of resident memory (``VmHWM``), in bytes."""
        return _proc_status_kib(self.pid, "VmHWM") * 1024

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used (``/proc/<pid>/stat``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the server closes and prints its counters. Returns the exit status and
        the stderr text it left."""
        code = await self.finish(signal.SIGINT)
        return code, self.stderr()


class WorkerProcess(Child):
    """``worker.py URL NAMESPACE``: hosts Neuron ``crunch`` (capability ``crunch``) on a
    worker Dendrite, prints ``ready <pid>`` once subscribed, ``started <trace> <attempt>``
    when a TASK begins, and holds every TASK until :meth:`release` (SIGUSR1)."""

    def __init__(self, log_dir: Path, url: str, namespace: str, *, name: str) -> None:
        super().__init__(name, [sys.executable, str(WORKER_SCRIPT), url, namespace], log_dir)

    async def start(self) -> WorkerProcess:
        await self.spawn()
        await self.wait_for(rf"^ready {self.pid}$")
        return self

    def release(self) -> None:
        """From now on answer every TASK, the held ones included."""
        self.send(signal.SIGUSR1)


class ProcessGroup:
    """The children of one test; :meth:`close` ends every one of them (fixture teardown).

    Children start in a test's event loop and must be closed in that loop."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    async def dev_synapse(self, *extra: str) -> DevSynapseProcess:
        child = DevSynapseProcess(self.log_dir, *extra)
        self.children.append(child)
        return await child.start()

    async def worker(self, url: str, namespace: str, *, name: str) -> WorkerProcess:
        child = WorkerProcess(self.log_dir, url, namespace, name=name)
        self.children.append(child)
        return await child.start()

    async def close(self) -> None:
        """End every child, newest first: clients go before the bus they talk to (a
        client whose bus is gone spends its stop waiting for a reconnect)."""
        for child in reversed(self.children):
            await child.close()

    def dump(self) -> str:
        """Every child's output, for an assertion message."""
        return "\n".join(str(child) for child in self.children)


def _proc_status_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB$", text, re.MULTILINE)
    assert found is not None, f"no {field} in /proc/{pid}/status"
    return int(found.group(1))
