"""The stand-in's HTTP/1.1 plumbing: h11 over asyncio streams, on loopback by default."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self

import h11

from ._routes import Incoming, Reply, respond

__all__ = ["RecordedRequest", "StandInServer"]

log = logging.getLogger("cosmonapse_neuron_hf.standin")

_READ_CHUNK: Final = 64 * 1024
_MAX_HEADER_BYTES: Final = 16 * 1024
_READ_TIMEOUT_S: Final = 30.0  # for the rest of a request once it has started
_WRITE_TIMEOUT_S: Final = 30.0
_SHUTDOWN_GRACE_S: Final = 5.0
_BUSY: Final = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What the stand-in received, minus secrets.

    ``path`` is as sent (a ``/_fault/...`` prefix included); ``body`` is the parsed JSON,
    or ``None`` when the body was empty, too large or not JSON; ``has_authorization`` says
    whether an ``Authorization`` header came with it (its value is never kept).
    """

    method: str
    path: str
    body: Any
    has_authorization: bool


class _TooLarge(Exception):
    pass


class StandInServer:
    """A loopback HTTP server that answers like TGI and an OpenAI-compatible chat router.

    Use ``async with StandInServer() as server:`` and point a client at ``server.url``, or
    call :meth:`start` and :meth:`aclose`. It serves ``POST /v1/chat/completions``,
    ``POST /generate``, ``GET /health`` and ``GET /info`` with deterministic answers, and
    the test-only faults listed in :data:`cosmonapse_neuron_hf.standin.FAULTS`.

    Guarantees: request bodies over ``max_body_bytes`` get 413 and unfinished headers past 16 KiB
    get 431 (neither is buffered further); at most ``max_connections`` connections are served at
    once (more get 503); every read and write has a deadline; an idle keep-alive connection
    is closed after ``idle_timeout_s``; a malformed request only ends its own connection.
    :meth:`aclose` stops listening, cancels every connection (slow faults included) and
    returns once they are gone.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        slow_s: float = 60.0,
        max_body_bytes: int = 1024 * 1024,
        max_connections: int = 64,
        idle_timeout_s: float = 60.0,
        max_recorded: int = 256,
    ) -> None:
        self._host = host
        self._port = port
        self._token = token
        self._slow_s = slow_s
        self._max_body_bytes = max_body_bytes
        self._max_connections = max_connections
        self._idle_timeout_s = idle_timeout_s
        self._recorded: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._counts = {
            "connections": 0,
            "peak_open": 0,
            "requests": 0,
            "refused": 0,
            "bad_requests": 0,
        }

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket; only valid after :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the stand-in server is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        return self._port

    @property
    def requests(self) -> list[RecordedRequest]:
        """The most recent requests, oldest first (at most ``max_recorded``)."""
        return list(self._recorded)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``connections`` accepted, ``open`` now and ``peak_open`` at most,
        ``requests`` answered, ``refused`` (over ``max_connections``), ``bad_requests``
        (unparseable HTTP)."""
        return {**self._counts, "open": len(self._connections)}

    def fault_url(self, fault: str) -> str:
        """A base URL whose every request triggers ``fault`` (test-only; see FAULTS)."""
        return f"{self.url}/_fault/{fault}"

    async def start(self) -> None:
        """Bind and start listening. Raises ``OSError`` if the address is taken."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._on_connect, self._host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        log.debug("stand-in listening on %s", self.url)

    async def aclose(self) -> None:
        """Stop listening and close every connection. Idempotent."""
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_SHUTDOWN_GRACE_S)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SHUTDOWN_GRACE_S):
                    await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The connection runs in a task of our own rather than the one asyncio would make:
        # aclose() can then cancel and await it (and 3.11's streams would log the cancel).
        if self._closing or len(self._connections) >= self._max_connections:
            self._counts["refused"] += 1
            writer.write(_BUSY)
            writer.close()
            return
        self._counts["connections"] += 1
        task = asyncio.create_task(self._connection(reader, writer))
        self._connections.add(task)
        self._counts["peak_open"] = max(self._counts["peak_open"], len(self._connections))
        task.add_done_callback(self._connections.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, h11.LocalProtocolError):
            pass  # the peer went away or stalled; only this connection ends
        except Exception:  # a bug here must not surface as an unhandled task error
            log.exception("stand-in connection failed")
        finally:
            await _close(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
        while True:
            try:
                got = await self._read_request(conn, reader)
            except h11.RemoteProtocolError as exc:
                self._counts["bad_requests"] += 1
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    detail = json.dumps({"error": f"bad HTTP request: {exc}"}).encode()
                    await _send(conn, writer, Reply(exc.error_status_hint, detail), closing=True)
                return
            if got is None:
                return
            request, body = got
            if body is None:
                reply = Reply(413, json.dumps({"error": "request body too large"}).encode())
            else:
                reply = respond(_incoming(request, body), token=self._token, slow_s=self._slow_s)
            self._record(request, body)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.drop:
                return
            await _send(conn, writer, reply, closing=body is None)
            self._counts["requests"] += 1
            log.debug("%s %s -> %d", request.method.decode(), request.target.decode(), reply.status)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request, bytes | None] | None:
        """The next request and its body (``None`` if over the limit), or ``None`` at EOF."""
        event = await _next_event(conn, reader, self._idle_timeout_s)
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed
        declared = _content_length(event.headers)
        if declared is not None and declared > self._max_body_bytes:
            return event, None
        body = bytearray()
        while True:
            event_ = await _next_event(conn, reader, _READ_TIMEOUT_S)
            if isinstance(event_, h11.Data):
                body += event_.data
                if len(body) > self._max_body_bytes:
                    return event, None
            elif isinstance(event_, h11.EndOfMessage):
                return event, bytes(body)
            else:
                return None

    def _record(self, request: h11.Request, body: bytes | None) -> None:
        parsed: Any = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        has_auth = any(name == b"authorization" for name, _ in request.headers)
        self._recorded.append(
            RecordedRequest(
                method=request.method.decode("ascii", "replace"),
                path=request.target.decode("ascii", "replace").partition("?")[0],
                body=parsed,
                has_authorization=has_auth,
            )
        )


def _incoming(request: h11.Request, body: bytes) -> Incoming:
    """The routing view of an h11 request: decoded, query dropped, header names lower-case."""
    headers: Mapping[str, str] = {
        name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers
    }
    return Incoming(
        method=request.method.decode("ascii", "replace"),
        path=request.target.decode("ascii", "replace").partition("?")[0],
        headers=headers,
        body=body,
    )


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return None


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader, timeout_s: float) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        async with asyncio.timeout(timeout_s):
            data = await reader.read(_READ_CHUNK)
        conn.receive_data(data)


async def _send(
    conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply, *, closing: bool
) -> None:
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(reply.body))),
        ("server", "cosmonapse-standin"),
        *reply.headers,
    ]
    if closing:
        headers.append(("connection", "close"))
    try:
        reason = HTTPStatus(reply.status).phrase
    except ValueError:
        reason = ""
    out = bytearray()
    for event in (
        h11.Response(status_code=reply.status, headers=headers, reason=reason),
        h11.Data(data=reply.body),
        h11.EndOfMessage(),
    ):
        out += conn.send(event) or b""
    writer.write(out)
    async with asyncio.timeout(_WRITE_TIMEOUT_S):
        await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
