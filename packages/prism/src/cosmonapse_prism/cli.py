"""``cosmo prism``: serve Prism for one synapse URL until interrupted.

The CLI mounts :func:`command` through the ``cosmonapse.cli`` entry point, and
``cosmo doppler --prism`` calls it directly with the same keywords, so it is a plain
function whose defaults are usable both ways.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from cosmonapse import CosmonapseError, connect_synapse

from .server import DEFAULT_PORT, PrismServer

__all__ = ["command", "serve"]

DEFAULT_URL = "cosmo://127.0.0.1:7070"


def command(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="The namespace to watch.")],
    url: Annotated[
        str, typer.Option("--url", "-u", help="The synapse to watch (cosmo://, nats://).")
    ] = DEFAULT_URL,
    port: Annotated[
        int, typer.Option("--port", "-p", help="Local HTTP port (0 picks a free one).")
    ] = DEFAULT_PORT,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser tab.")
    ] = False,
) -> None:
    """Serve Prism, the live browser view of one namespace, on http://127.0.0.1:PORT.

    Runs until Ctrl-C. Exits with status 1 and one line on stderr when the synapse
    cannot be reached or the port is taken.
    """
    try:
        asyncio.run(serve(url=url, namespace=namespace, port=port, open_browser=not no_browser))
    except KeyboardInterrupt:
        pass
    except (CosmonapseError, OSError, ValueError) as exc:
        print(f"prism: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


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
    receives the page URL once the server accepts connections.
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
        await server.wait_closed()
    finally:
        await server.aclose()
        if not synapse.closed:
            await synapse.close()
