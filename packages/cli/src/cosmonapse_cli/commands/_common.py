"""What every command shares: the URL option, failing with one clear line, running a
coroutine until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn

import typer
from cosmonapse import Synapse

from ..console import err

__all__ = [
    "DEFAULT_URL",
    "EXIT_INTERRUPTED",
    "Failure",
    "UrlOption",
    "fail",
    "run",
    "until_closed",
    "wait_for_stop",
]

DEFAULT_URL = "cosmo://127.0.0.1:7070"
EXIT_INTERRUPTED = 130  # what a shell reports for a command ended by Ctrl-C (128 + SIGINT)

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        "-u",
        envvar="SYNAPSE_URL",
        help="The synapse to talk to: cosmo://host:port (the dev synapse) or nats://host:port.",
    ),
]


class Failure(Exception):
    """A command failed in a way the user can fix; the message says how."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err(message)
    raise typer.Exit(code)


def run(coro: Coroutine[Any, Any, int | None], *, interrupted: int = 0) -> None:
    """Run ``coro``; turn a :class:`Failure` into one line on stderr and its exit code,
    and exit with the coroutine's result when it returns an int.

    Ctrl-C exits with ``interrupted``: 0 for the commands whose normal end it is (a
    watcher, a server), :data:`EXIT_INTERRUPTED` for one it cuts short (a dispatch)."""
    try:
        code = asyncio.run(coro)
    except Failure as exc:
        fail(str(exc), exc.code)
    except KeyboardInterrupt:
        code = interrupted
    if code:
        raise typer.Exit(code)


async def until_closed(synapse: Synapse) -> None:
    """Return when the synapse has closed itself (a client that gave up reconnecting)."""
    while not synapse.closed:  # noqa: ASYNC110 (the Synapse interface has no close event)
        await asyncio.sleep(0.5)


async def wait_for_stop() -> None:
    """Return on SIGINT (Ctrl-C), SIGTERM or SIGHUP (the terminal closed), so a
    long-running command can clean up (and stop a server it started)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
