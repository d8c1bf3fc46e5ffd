"""Run the numbered examples the way their READMEs say: as real processes.

Everything here is synchronous (processes, pipes, reader threads); async tests call the
blocking waits through ``asyncio.to_thread`` so their own event loop keeps running.
Every wait has a deadline, and every process started here is stopped by the context
manager that started it, even when the test fails.

    with ExampleProcesses() as procs:
        bus = procs.dev_synapse(namespace="quickstart")       # cosmo://127.0.0.1:<port>
        worker = procs.start("06-no-orchestrator", "worker_a.py", env={"SYNAPSE_URL": bus})
        worker.wait_for(r"listening")
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "EXAMPLES",
    "ExampleProcesses",
    "Finished",
    "Proc",
    "example_env",
    "cosmo_executable",
    "free_port",
    "run_example",
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LINE_TIMEOUT_S = 30.0  # hang guard for "wait until the process prints X"
RUN_TIMEOUT_S = 90.0  # hang guard for a whole single-process example
STOP_GRACE_S = 5.0


def example_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment an example runs in: this one, unbuffered, and offline.

    ``HF_TOKEN`` is removed so that examples which could use the real Hugging Face
    router use their local stand-in instead; tests never reach the network.
    """
    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    env.pop("SYNAPSE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def free_port() -> int:
    """A loopback port that was free a moment ago (for programs that need a fixed one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Finished:
    """What a finished example printed."""

    stdout: str
    stderr: str
    returncode: int

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def run_example(
    folder: str,
    script: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = RUN_TIMEOUT_S,
    check: bool = True,
) -> Finished:
    """Run ``python script args`` inside ``examples/folder`` to completion.

    Raises AssertionError (with both streams) when it exits non-zero and ``check`` is
    true, or when it is still running after ``timeout_s`` (it is killed first).
    """
    cwd = EXAMPLES / folder
    try:
        done = subprocess.run(
            [sys.executable, script, *args],
            cwd=cwd,
            env=example_env(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{folder}/{script} still running after {timeout_s:g} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        ) from None
    result = Finished(done.stdout, done.stderr, done.returncode)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{folder}/{script} exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _interruptible() -> None:
    # A shell's background job ignores SIGINT and children inherit that; stop() relies on
    # SIGINT acting as Ctrl-C does, so put the default back before the program starts.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Proc:
    """A background process whose stdout (and stderr, merged) is collected line by line."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.argv = argv
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # so a stop reaches the children it may start
            preexec_fn=_interruptible,
        )
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_for(
        self, pattern: str, *, count: int = 1, timeout_s: float = LINE_TIMEOUT_S
    ) -> list[re.Match[str]]:
        """Block until ``count`` lines match ``pattern`` (re.search); return the matches.

        Raises AssertionError with everything printed so far when the process exits
        first or ``timeout_s`` passes.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = [m for m in map(regex.search, self._lines) if m]
                if len(found) >= count:
                    return found[:count]
                if not self._reader.is_alive():
                    raise AssertionError(
                        f"{self.name} ended (exit {self.popen.poll()}) before printing "
                        f"{count} line(s) matching {pattern!r}:\n{self._joined()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name} printed no {count} line(s) matching {pattern!r} within "
                        f"{timeout_s:g} s:\n{self._joined()}"
                    )
                self._changed.wait(left)

    def wait_exit(self, timeout_s: float = RUN_TIMEOUT_S) -> int:
        """Wait for the process to end by itself; return its exit code."""
        try:
            code = self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout_s:g} s:\n{self.output}"
            ) from None
        self._reader.join(STOP_GRACE_S)
        return code

    def stop(self) -> None:
        """Interrupt (as Ctrl-C would), then kill if it does not end. Idempotent."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGINT)
            try:
                self.popen.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(STOP_GRACE_S)
        self._reader.join(STOP_GRACE_S)

    def _joined(self) -> str:
        return "\n".join(f"  | {line}" for line in self._lines) or "  (nothing)"

    def __repr__(self) -> str:
        return f"<Proc {self.name} pid={self.popen.pid} running={self.running()}>"


class ExampleProcesses:
    """Starts example processes and the servers they need; stops them all on exit."""

    def __init__(self) -> None:
        self._procs: list[Proc] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ExampleProcesses:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            for proc in reversed(self._procs):
                proc.stop()
        finally:
            self._stack.close()

    def start(
        self, folder: str, script: str, *args: str, env: Mapping[str, str] | None = None
    ) -> Proc:
        """Start ``python script args`` in ``examples/folder``."""
        return self.command(
            f"{folder}/{script}", [sys.executable, script, *args], cwd=EXAMPLES / folder, env=env
        )

    def command(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: Path = EXAMPLES,
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        """Start any command (``cosmo ...``, ``python -m ...``)."""
        proc = Proc(name, argv, cwd, example_env(env))
        self._procs.append(proc)
        return proc

    def dev_synapse(self, namespace: str | None = None) -> str:
        """Start ``cosmo synapse start memory`` on a free port; return its cosmo:// URL."""
        argv = [cosmo_executable(), "synapse", "start", "memory", "--port", "0"]
        if namespace is not None:
            argv.append(f"--namespace={namespace}")
        proc = self.command("cosmo synapse", argv)
        match = proc.wait_for(r"URL:\s+(cosmo://\S+)")[0]
        return match.group(1)

    def standin(self) -> str:
        """Start the Hugging Face stand-in server on a free port; return its base URL
        (the first line it prints)."""
        proc = self.command(
            "hf stand-in", [sys.executable, "-m", "cosmonapse_neuron_hf.standin", "--port", "0"]
        )
        return proc.wait_for(r"^(http://127\.0\.0\.1:\d+)$")[0].group(1)

    def nats_server(self) -> str:
        """Start a real nats-server on a free port; return its nats:// URL."""
        from tests.nats_servers import NatsServer

        server = self._stack.enter_context(NatsServer())
        return server.url

    @property
    def procs(self) -> list[Proc]:
        return list(self._procs)


def cosmo_executable() -> str:
    """The ``cosmo`` console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("cosmo")
    return str(beside) if beside.exists() else "cosmo"


@contextlib.contextmanager
def processes() -> Iterator[ExampleProcesses]:
    """``with processes() as procs:`` (same as ``with ExampleProcesses() as procs:``)."""
    with ExampleProcesses() as procs:
        yield procs
