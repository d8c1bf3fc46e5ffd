"""Running Prism: :class:`PrismServer` (uvicorn in the current event loop) and
:func:`watch`, the in-process entry point.

The server binds its own socket before uvicorn starts, so ``port=0`` works (the chosen port
is in :attr:`PrismServer.url`) and a taken port fails at once with
:class:`~cosmonapse_prism.PrismStartError`. uvicorn's signal handling is switched off: the
process that embeds Prism keeps its own Ctrl-C behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
import webbrowser
from collections.abc import Generator, Iterator
from types import TracebackType
from typing import Any

import uvicorn
from cosmonapse import Synapse

from .app import create_app
from .exceptions import PrismStartError
from .hub import SignalHub

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "PrismServer", "watch"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7071
_START_DEADLINE_S = 10.0
_STOP_DEADLINE_S = 5.0

log = logging.getLogger("cosmonapse.prism")


class _EmbeddedServer(uvicorn.Server):
    # The host program owns SIGINT/SIGTERM; uvicorn must not take them over.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class PrismServer:
    """Prism serving one namespace of one synapse on a loopback port.

    Start it with ``async with PrismServer(...) as prism:`` or ``prism = await
    PrismServer(...)`` (then ``await prism.aclose()``). While it runs, :attr:`url` is the
    address to open. Closing ends every browser stream and stops the HTTP server; the
    synapse is closed too only when ``owns_synapse`` is true (the CLI connects one by URL
    and hands it over; :func:`watch` never closes yours).

    ``host`` must be a loopback address. Hub options (``feed_items``, ``feed_bytes``,
    ``history``, ``max_viewers``, ``max_signal_bytes``) bound memory; see
    :class:`~cosmonapse_prism.hub.SignalHub`.
    """

    def __init__(
        self,
        synapse: Synapse,
        namespace: str,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        open_browser: bool = False,
        owns_synapse: bool = False,
        batch_interval_s: float = 0.05,
        stats_interval_s: float = 1.0,
        **hub_options: Any,
    ) -> None:
        _check_loopback(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        self.hub = SignalHub(synapse, namespace, **hub_options)
        self.host = host
        self.port = port
        self.open_browser = open_browser
        self.owns_synapse = owns_synapse
        self._app = create_app(
            self.hub,
            extra_hosts=[host],
            batch_interval_s=batch_interval_s,
            stats_interval_s=stats_interval_s,
        )
        self._socket: socket.socket | None = None
        self._bound_port: int | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` of the running server (the real port when 0 was asked).

        Raises RuntimeError before :meth:`start`.
        """
        port = self._bound_port
        if port is None:
            raise RuntimeError("PrismServer.url is known once the server has started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}/"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> PrismServer:
        """Subscribe, bind and serve; returns self once the server accepts connections.

        Raises :class:`~cosmonapse_prism.PrismStartError` when the port cannot be bound,
        and whatever the synapse raises when the subscription fails. Starting twice is a
        no-op.
        """
        if self._task is not None:
            return self
        await self.hub.start()
        try:
            self._socket = _bind(self.host, self.port)
            self._bound_port = int(self._socket.getsockname()[1])
            config = uvicorn.Config(
                self._app,
                lifespan="off",
                log_config=None,
                log_level="warning",
                access_log=False,
                server_header=False,
                ws="none",
                timeout_graceful_shutdown=2,
            )
            server = _EmbeddedServer(config)
            self._server = server
            self._task = asyncio.get_running_loop().create_task(
                server.serve(sockets=[self._socket]), name="cosmonapse-prism-http"
            )
            await self._wait_started(server, self._task)
        except BaseException:
            await self.aclose()
            raise
        log.info("Prism is watching %s on %s", self.hub.subject, self.url)
        if self.open_browser:
            _open_in_browser(self.url)
        return self

    async def _wait_started(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        # uvicorn offers no start event; its `started` flag flips inside startup().
        async with asyncio.timeout(_START_DEADLINE_S):
            while not server.started:
                if task.done():
                    exc = task.exception() if not task.cancelled() else None
                    raise PrismStartError(f"the HTTP server stopped during start-up: {exc}")
                await asyncio.sleep(0.01)

    async def wait_closed(self) -> None:
        """Wait until the server stops (after :meth:`aclose`, or when it fails)."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    async def aclose(self) -> None:
        """End the streams, stop the HTTP server, release the port and, when owned, close
        the synapse. Idempotent; waits at most a few seconds for open connections."""
        if self._closing:
            return
        self._closing = True
        await self.hub.aclose()
        server, task = self._server, self._task
        if server is not None and task is not None and not task.done():
            server.should_exit = True
            try:
                async with asyncio.timeout(_STOP_DEADLINE_S):
                    await asyncio.shield(task)
            except TimeoutError:
                server.force_exit = True
                task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._socket is not None:
            self._socket.close()
        if self.owns_synapse and not self.hub.synapse.closed:
            await self.hub.synapse.close()

    def __await__(self) -> Generator[Any, None, PrismServer]:
        return self.start().__await__()

    async def __aenter__(self) -> PrismServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        where = self.url if self._bound_port is not None else f"{self.host}:{self.port}"
        state = "running" if self.running else "stopped"
        return f"<PrismServer {self.hub.subject!r} at {where} {state}>"


def watch(
    synapse: Synapse,
    namespace: str,
    *,
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
    **options: Any,
) -> PrismServer:
    """Watch ``namespace`` on a synapse you already hold, such as a MemorySynapse.

    Returns a :class:`PrismServer` that starts on ``async with`` or ``await``::

        async with prism.watch(synapse, "demo", port=0) as view:
            print("open", view.url)
            ...

    The synapse stays yours: Prism subscribes to it and unsubscribes on close, and never
    closes it. ``port=0`` picks a free port. Other keywords go to :class:`PrismServer`.
    """
    return PrismServer(synapse, namespace, port=port, open_browser=open_browser, **options)


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be a loopback IP address, got {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"Prism only listens on loopback addresses (127.0.0.1, ::1); got {host!r}")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise PrismStartError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another port (--port 0 picks any free one; port=0 in code)"
        ) from exc
    return sock


def _open_in_browser(url: str) -> None:
    # webbrowser.open can block for seconds while it probes for a browser; never let it
    # hold up the event loop or keep the process alive.
    def run() -> None:
        with _quiet():
            webbrowser.open(url)

    threading.Thread(target=run, name="cosmonapse-prism-browser", daemon=True).start()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # no browser is not an error: the URL is printed anyway
        log.info("could not open a browser: %s", exc)
