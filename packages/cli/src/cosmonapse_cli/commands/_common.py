"""What every command shares: the URL option, failing with one clear line, running a
coroutine until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn

import typer

from ..console import err

__all__ = ["DEFAULT_URL", "Failure", "UrlOption", "fail", "run", "wait_for_stop"]

DEFAULT_URL = "cosmo://127.0.0.1:7070"

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


def run(coro: Coroutine[Any, Any, int | None]) -> None:
    """Run ``coro``; turn a :class:`Failure` into one line on stderr and its exit code,
    and exit with the coroutine's result when it returns an int."""
    try:
        code = asyncio.run(coro)
    except Failure as exc:
        fail(str(exc), exc.code)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise typer.Exit(code)


async def wait_for_stop() -> None:
    """Return on SIGINT (Ctrl-C) or SIGTERM, so a long-running command can clean up."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
