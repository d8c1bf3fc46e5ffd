"""``cosmo prism``: serve Prism for one synapse URL until interrupted.

The CLI mounts :func:`command` through the ``cosmonapse.cli`` entry point, and
``cosmo doppler --prism`` calls it directly with the same keywords, so it is a plain
function whose defaults are usable both ways.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from cosmonapse import CosmonapseError, Synapse, connect_synapse
from cosmonapse.synapses import require_watchable

from .recording import serve_recording
from .server import DEFAULT_PORT, PrismServer

__all__ = ["command", "serve"]

DEFAULT_URL = "cosmo://127.0.0.1:7070"
_LOSS_POLL_S = 0.5


def command(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="The namespace to watch.")
    ] = None,
    url: Annotated[
        str,
        typer.Option(
            "--url", "-u", envvar="SYNAPSE_URL", help="The synapse to watch (cosmo://, nats://)."
        ),
    ] = DEFAULT_URL,
    port: Annotated[
        int, typer.Option("--port", "-p", help="Local HTTP port (0 picks a free one).")
    ] = DEFAULT_PORT,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser tab.")
    ] = False,
    recording: Annotated[
        Path | None,
        typer.Option(help="Show this file of cosmo record instead of a live synapse."),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(min=0.001, help="--recording only: play it in time, N times faster."),
    ] = None,
) -> None:
    """Serve Prism, the live browser view of one namespace, on http://127.0.0.1:PORT.

    Runs until Ctrl-C. Exits with status 1 and one line on stderr when the synapse
    cannot be reached or the port is taken. With --recording it shows a recording
    (the namespace of its first Signal unless -n says another).

    Example: cosmo prism --url cosmo://127.0.0.1:7070 -n quickstart
    """
    if recording is not None:
        _serve_until_signalled(
            serve_recording(
                recording,
                namespace=namespace,
                port=port,
                open_browser=not no_browser,
                speed=speed,
            )
        )
        return
    if namespace is None:
        raise typer.BadParameter("give the namespace to watch: -n NAMESPACE")
    try:
        require_watchable(url)
    except ValueError as exc:
        print(f"prism: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    _serve_until_signalled(
        serve(url=url, namespace=namespace, port=port, open_browser=not no_browser)
    )


def _serve_until_signalled(main: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(_until_signalled(main))
    except KeyboardInterrupt:
        pass
    except (CosmonapseError, OSError, ValueError) as exc:
        print(f"prism: {_describe(exc)}", file=sys.stderr)
        raise SystemExit(1) from None


def _describe(exc: Exception) -> str:
    """One line for the terminal: a file that cannot be read is named with the reason,
    not as a raw ``[Errno N]``."""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no recording at {exc.filename}"
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"cannot read {exc.filename}: {exc.strerror}"
    return str(exc)


async def _until_signalled(main: Coroutine[Any, Any, None]) -> None:
    # SIGINT and SIGTERM both end Prism cleanly (streams closed, port released). A
    # process started in the background by a shell ignores SIGINT unless a handler is
    # installed, so install one for both rather than rely on KeyboardInterrupt.
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, task.cancel)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or a platform without it: Ctrl-C still works
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def serve(
    *,
    url: str,
    namespace: str,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    ready: asyncio.Future[str] | None = None,
) -> None:
    """Connect to ``url``, serve Prism for ``namespace`` and run until cancelled.

    The synapse is connected here and closed on the way out. When ``ready`` is given it
    receives the page URL once the server accepts connections. When the synapse is lost
    for good (a client that gave up reconnecting), Prism says so in one line on stderr
    and keeps serving: the page keeps the Signals it has and shows the synapse closed.
    """
    synapse = await connect_synapse(url)
    server = PrismServer(
        synapse, namespace, port=port, open_browser=open_browser, owns_synapse=True
    )
    try:
        await server.start()
        print(f"Prism: {server.url}  (synapse {synapse.url}, namespace {namespace})", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        if ready is not None and not ready.done():
            ready.set_result(server.url)
        lost = asyncio.ensure_future(_report_loss(synapse))
        try:
            await server.wait_closed()
        finally:
            lost.cancel()
            await asyncio.gather(lost, return_exceptions=True)
    finally:
        await server.aclose()
        if not synapse.closed:
            await synapse.close()


async def _report_loss(synapse: Synapse) -> None:
    while not synapse.closed:  # noqa: ASYNC110 (the Synapse interface has no close event)
        await asyncio.sleep(_LOSS_POLL_S)
    print(
        f"prism: lost the synapse at {synapse.url}; the page keeps the Signals it has "
        "(Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
