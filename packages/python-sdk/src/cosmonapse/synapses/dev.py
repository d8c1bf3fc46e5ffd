"""The dev synapse client: ``connect_synapse("cosmo://127.0.0.1:7070")``.

It speaks the dev-synapse wire of docs/protocol.md section 4 (TCP, one JSON object per line,
the Signal as a JSON string in ``frame``) to the server ``cosmo synapse start memory``
runs, or to any server that speaks the same protocol.

How it behaves:

* **One read loop, never blocked by user code.** The loop parses each line and pushes a
  ``msg`` into its subscription's bounded inbox; every subscription has its own pump task.
  A handler waiting on a message of another subscription over the same connection (a
  Neuron awaiting a reply) therefore never deadlocks.
* **Subscriptions are live on return.** :meth:`DevSynapse.subscribe` sends ``sub`` and then
  a ``ping``, and returns on the ``pong``: the server handles a connection's lines in
  order, so the subscription is in place before anything published afterwards.
* **Reconnects.** When the connection drops, the client retries with exponential backoff
  (``reconnect_delay`` doubling up to ``reconnect_max_delay``, at most
  ``reconnect_attempts`` times), logging each step on ``cosmonapse.synapse.dev``. On
  success it replays every subscription and registered namespace. Publishing while
  reconnecting waits up to ``request_timeout``. When it gives up, the synapse closes itself
  and further use raises :class:`~cosmonapse.SynapseConnectError` saying why.
* **Limits.** A line over ``max_frame_bytes`` is refused with
  :class:`~cosmonapse.FrameTooLargeError` before anything is sent. Server lines up to twice
  that are accepted; longer ones are skipped and counted in ``stats["skipped_lines"]``.
* **Server errors.** Each ``err`` line is logged as a warning, counted in
  ``stats["server_errors"]`` and kept in :attr:`DevSynapse.last_server_error`. A ``sub``
  the server refuses (an ``err`` naming its ``sub_id`` before the ``pong``) makes
  :meth:`DevSynapse.subscribe` raise :class:`~cosmonapse.ServerError`.
* **Opening.** On each connect (reconnects included) it sends ``hello`` at once and is
  connected on the first ``welcome``, within ``connect_timeout``: a server without a token
  writes that banner before reading anything, a server with one answers the hello. Any
  later ``welcome`` (the answer to its hello after a banner) is read and ignored, never
  taken for the answer to another request.
* **Delivery is at-most-once**: frames in flight when a connection drops are lost.
* **Token.** For a server started with a token, give it as the URL's password
  (``cosmo://:TOKEN@host:port``), as ``token=``, or in the ``COSMO_TOKEN`` environment
  variable. It is sent in every ``hello`` (each reconnect included) and never shown:
  :attr:`~DevSynapse.url`, log lines and errors read ``cosmo://:***@host:port``. A refused
  token raises :class:`~cosmonapse.SynapseAuthError`; met while reconnecting, it ends the
  retries at once and closes the synapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections import deque
from typing import Any

import orjson

from ..exceptions import (
    FrameTooLargeError,
    ServerError,
    SynapseAuthError,
    SynapseClosedError,
    SynapseConnectError,
    SynapseError,
)
from ..subjects import validate_namespace, validate_queue_group, validate_subject
from . import _ndjson
from ._dev_url import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_URL, display_url, parse_url
from ._inbox import Inbox
from .base import DEFAULT_MAX_PENDING, MessageHandler, Subscription, Synapse

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "DEFAULT_URL", "DevSynapse", "connect", "parse_url"]

log = logging.getLogger("cosmonapse.synapse.dev")

DEFAULT_MAX_FRAME_BYTES = 1_048_576
"""The dev synapse's default line limit (1 MiB)."""

_MAX_OUTSTANDING = 1024  # requests awaiting a reply, per reply kind
_LOUD_ERRORS = 20  # server errors logged one by one before sampling
_OUT_FLUSH_BYTES = 256 * 1024  # queued bytes that are written at once, and then drained


class _DevSubscription(Subscription):
    __slots__ = ("_owner", "inbox", "line", "queue_group", "sub_id", "subject")

    def __init__(
        self,
        owner: DevSynapse,
        sub_id: str,
        subject: str,
        queue_group: str | None,
        inbox: Inbox,
    ) -> None:
        self._owner = owner
        self.sub_id = sub_id
        self.subject = subject
        self.queue_group = queue_group
        self.inbox = inbox
        self.line = _ndjson.sub_line(sub_id, subject, queue_group)

    async def unsubscribe(self) -> None:
        await self._owner._unsubscribe(self)

    def __repr__(self) -> str:
        return f"<DevSubscription {self.sub_id} {self.subject!r} group={self.queue_group!r}>"


class DevSynapse(Synapse):
    """A connected dev synapse client; build it with :func:`connect`.

    Besides the :class:`~cosmonapse.Synapse` interface it offers :meth:`flush` and the
    management requests of the protocol (:meth:`register_namespace`,
    :meth:`list_namespaces`, :meth:`namespace_info`, :meth:`stop_namespace`).
    """

    plain_handlers = True

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_pending: int = DEFAULT_MAX_PENDING,
        connect_timeout: float = 5.0,
        request_timeout: float = 10.0,
        reconnect: bool = True,
        reconnect_attempts: int = 30,
        reconnect_delay: float = 0.1,
        reconnect_max_delay: float = 2.0,
        token: str | None = None,
    ) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty string")
        if max_frame_bytes < 64:
            raise ValueError("max_frame_bytes must be at least 64")
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if connect_timeout <= 0 or request_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if reconnect_attempts < 1 or reconnect_delay <= 0 or reconnect_max_delay <= 0:
            raise ValueError("reconnect_attempts and the reconnect delays must be positive")
        self._host = host
        self._port = port
        self.url = display_url(host, port, token=token is not None)  # never the token itself
        self._hello = _ndjson.HELLO if token is None else _ndjson.encode("hello", token=token)
        self.max_frame_bytes = max_frame_bytes
        self._max_frame = max_frame_bytes
        self._max_pending = max_pending
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._reconnect = reconnect
        self._reconnect_attempts = reconnect_attempts
        self._reconnect_delay = reconnect_delay
        self._reconnect_max_delay = reconnect_max_delay

        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._out = _ndjson.LineBatcher(self._write_now)  # one socket write per iteration
        self._connected = asyncio.Event()  # also set on close, to wake waiters
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failure: str | None = None
        self._failure_type: type[SynapseConnectError] = SynapseConnectError
        self._subs: dict[str, _DevSubscription] = {}
        self._namespaces: dict[str, str] = {}
        self._waiters: dict[str, deque[asyncio.Future[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)
        self.last_server_error: str | None = None
        """The message of the most recent ``err`` line from the server."""
        # Recent errors of the current connection, numbered, so a request can tell which
        # arrived while it waited.
        self._errors: deque[tuple[int, str]] = deque(maxlen=64)
        self._counters = dict.fromkeys(
            ("published", "reconnects", "server_errors", "skipped_lines"), 0
        )
        self._delivered_gone = 0
        self._dropped_gone = 0

    # -- state -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connected(self) -> bool:
        """True while a connection to the server is up (False while reconnecting)."""
        return self._writer is not None and not self._closed

    @property
    def stats(self) -> dict[str, int]:
        """``published``, ``delivered``, ``dropped`` (inbox overflow), ``subscriptions``,
        ``reconnects``, ``server_errors`` and ``skipped_lines`` (unreadable server lines)."""
        inboxes = [s.inbox for s in self._subs.values()]
        return {
            **self._counters,
            "delivered": self._delivered_gone + sum(i.delivered for i in inboxes),
            "dropped": self._dropped_gone + sum(i.dropped for i in inboxes),
            "subscriptions": len(self._subs),
        }

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure_type(self._failure)
        if self._closed:
            raise SynapseClosedError(f"the synapse at {self.url} is closed")

    # -- connecting --------------------------------------------------------------------

    async def _start(self) -> None:
        await self._open()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"cosmonapse-dev-synapse:{self.url}"
        )

    async def _open(self) -> None:
        """Connect, shake hands, replay subscriptions and namespaces, mark connected."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, limit=2 * self._max_frame),
                self._connect_timeout,
            )
        except TimeoutError:
            raise SynapseConnectError(
                f"no answer from {self.url} within {self._connect_timeout:g} s"
            ) from None
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError):
                reason = "connection refused"
            else:
                reason = exc.strerror or str(exc) or type(exc).__name__
            raise SynapseConnectError(
                f"nothing is listening at {self.url} ({reason}); start a dev synapse with: "
                "cosmo synapse start memory --namespace=NAME"
            ) from None
        try:
            writer.write(self._hello)
            await asyncio.wait_for(self._handshake(reader), self._connect_timeout)
        except BaseException as exc:
            writer.close()
            if isinstance(exc, SynapseConnectError):
                raise
            if isinstance(exc, TimeoutError):
                raise SynapseConnectError(
                    f"{self.url} accepted the connection but did not answer hello within "
                    f"{self._connect_timeout:g} s; is it a dev synapse?"
                ) from None
            if isinstance(exc, (OSError, asyncio.IncompleteReadError)):
                raise SynapseConnectError(
                    f"{self.url} closed the connection during the handshake"
                ) from None
            raise
        for sub in self._subs.values():
            writer.write(sub.line)
        for namespace, transport in self._namespaces.items():
            writer.write(_ndjson.encode("ns_register", namespace=namespace, transport=transport))
        self._errors.clear()
        self._reader, self._writer = reader, writer
        self._connected.set()

    async def _handshake(self, reader: asyncio.StreamReader) -> None:
        """Read up to the first ``welcome``: the banner of a server without a token, or
        the answer to our hello. The caller bounds the wait with ``connect_timeout``."""
        for _ in range(64):  # a server may say a few things first; not forever
            line = await _ndjson.read_line(reader)
            if line is None:
                continue
            try:
                reply = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise SynapseConnectError(
                    f"{self.url} does not speak the dev synapse protocol "
                    f"(it answered {line[:60]!r})"
                ) from None
            op = reply.get("op") if type(reply) is dict else None
            if op == "welcome":
                return
            if op == "err":
                message = str(reply.get("message"))
                # The server's auth refusals start so (docs/protocol.md, section 4).
                error = SynapseAuthError if message.startswith("authentication") else None
                raise (error or SynapseConnectError)(
                    f"{self.url} refused the connection: {message}"
                )
        raise SynapseConnectError(f"{self.url} never answered hello with welcome")

    async def _run(self) -> None:
        """Own the connection: read until it drops, then reconnect, until closed."""
        while True:
            reader = self._reader
            assert reader is not None
            reason = await self._read_loop(reader)
            if self._closed:
                return
            self._lost(reason)
            if not self._reconnect:
                await self._give_up(f"lost the connection to {self.url}: {reason}")
                return
            if not await self._reconnect_loop(reason):
                return

    async def _read_loop(self, reader: asyncio.StreamReader) -> str:
        """Dispatch server lines until the connection ends; returns why it ended.

        Reads whatever the socket has (up to ``READ_CHUNK``) and handles every complete
        line in it, so a busy connection costs one wake-up per chunk, not per line; it
        yields to the event loop between pieces of a chunk (``_ndjson.lines_per_turn``).
        """
        splitter = _ndjson.LineSplitter(2 * self._max_frame)
        read = reader.read
        on_line = self._on_line
        while True:
            try:
                chunk = await read(_ndjson.READ_CHUNK)
            except OSError as exc:
                return f"{type(exc).__name__}: {exc}"
            if not chunk:
                if self._errors:  # the server said why before closing
                    return f"the server closed the connection: {self._errors[-1][1]}"
                return "the server closed the connection"
            oversized = splitter.oversized
            turn = 0
            lines = splitter.feed(chunk)
            per_turn = _ndjson.lines_per_turn(len(lines))
            for line in lines:
                if not line:
                    continue
                turn += 1
                if turn > per_turn:  # let what the last lines started run (lines_per_turn)
                    turn = 1
                    await asyncio.sleep(0)
                try:
                    on_line(line)
                except Exception as exc:  # a line no server should send must not end the loop
                    self._skip(f"a line that could not be handled ({exc!r}): {line[:60]!r}")
            if splitter.oversized != oversized:
                self._skip(f"a line over {2 * self._max_frame} bytes")

    def _on_line(self, line: bytes) -> None:
        try:
            reply = orjson.loads(line)
        except orjson.JSONDecodeError:
            self._skip(f"a line that is not JSON: {line[:60]!r}")
            return
        if type(reply) is not dict:
            self._skip(f"a line that is not a JSON object: {line[:60]!r}")
            return
        op = reply.get("op")
        if op == "msg":
            sub = self._subs.get(reply.get("sub_id"))  # type: ignore[arg-type]
            if sub is None:
                return  # unsubscribed while the frame was in flight
            subject = reply.get("subject")
            frame = reply.get("frame")
            if type(frame) is dict:  # liberal: a peer may send the Signal as an object
                frame = orjson.dumps(frame).decode()
            if type(subject) is not str or type(frame) is not str:
                self._skip("a msg without a string subject and frame")
                return
            sub.inbox.push(subject, frame.encode())
        elif op == "err":
            self._server_error(str(reply.get("message", "")))
        elif op == "welcome":
            return  # the answer to our hello after the banner, or any repeat: nothing to do
        else:
            waiters = self._waiters.get(op) if type(op) is str else None
            if waiters:
                future = waiters.popleft()
                if not future.done():
                    future.set_result(reply)

    def _skip(self, what: str) -> None:
        self._counters["skipped_lines"] += 1
        log.warning("%s: skipped %s from the server", self.url, what)

    def _server_error(self, message: str) -> None:
        count = self._counters["server_errors"] = self._counters["server_errors"] + 1
        self.last_server_error = message
        self._errors.append((count, message))
        if count <= _LOUD_ERRORS or count % 1000 == 0:
            log.warning("%s answered err: %s (errors so far: %d)", self.url, message, count)

    def _lost(self, reason: str) -> None:
        self._connected.clear()
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
        self._fail_waiters(SynapseConnectError(f"the connection to {self.url} was lost: {reason}"))

    def _fail_waiters(self, exc: SynapseError) -> None:
        waiters, self._waiters = self._waiters, {}
        for queue in waiters.values():
            for future in queue:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved here: nobody may be awaiting it

    async def _reconnect_loop(self, reason: str) -> bool:
        attempts = self._reconnect_attempts
        log.warning(
            "lost the connection to %s (%s); reconnecting, up to %d attempts",
            self.url,
            reason,
            attempts,
        )
        delay = self._reconnect_delay
        last = reason
        for attempt in range(1, attempts + 1):
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_delay)
            try:
                await self._open()
            except SynapseAuthError as exc:
                # The same token would be refused again: stop now rather than retry.
                await self._give_up(f"could not reconnect: {exc}", SynapseAuthError)
                return False
            except SynapseConnectError as exc:
                last = str(exc)
                log.info("reconnect %d/%d to %s failed: %s", attempt, attempts, self.url, last)
                continue
            self._counters["reconnects"] += 1
            log.warning(
                "reconnected to %s (attempt %d); re-subscribed %d subscription(s)",
                self.url,
                attempt,
                len(self._subs),
            )
            return True
        await self._give_up(
            f"could not reconnect to {self.url} after {attempts} attempts (last error: {last})"
        )
        return False

    async def _give_up(
        self, message: str, error: type[SynapseConnectError] = SynapseConnectError
    ) -> None:
        log.error("%s; this synapse is now closed", message)
        self._failure = message
        self._failure_type = error
        await self._release()

    async def _writer_when_connected(self) -> asyncio.StreamWriter:
        """The live connection's writer; while reconnecting, wait up to
        ``request_timeout`` for the next one."""
        writer = self._writer
        if writer is not None and not writer.transport.is_closing():
            return writer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout
        while True:
            self._check_open()
            writer = self._writer
            if writer is not None and not writer.transport.is_closing():
                return writer
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SynapseConnectError(
                    f"not connected to {self.url}: still reconnecting after "
                    f"{self._request_timeout:g} s"
                )
            if self._connected.is_set():
                # The socket is gone but the read loop has not seen it yet: a moment.
                await asyncio.sleep(min(0.01, remaining))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._connected.wait(), remaining)

    # -- Synapse -----------------------------------------------------------------------

    async def publish(self, subject: str, data: bytes) -> None:
        """Send one frame; see :meth:`Synapse.publish`.

        The limit applies to the encoded line (the frame as a JSON string plus the
        envelope), since that is what the server measures. While reconnecting this waits
        up to ``request_timeout``, then raises :class:`~cosmonapse.SynapseConnectError`.
        """
        self._check_open()
        validate_subject(subject, wildcards=False)
        if len(data) > self._max_frame:
            raise FrameTooLargeError(len(data), self._max_frame)
        line = _ndjson.pub_line(subject, data)
        if len(line) - 1 > self._max_frame:  # the server does not count the newline
            raise FrameTooLargeError(len(line) - 1, self._max_frame)
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            writer = await self._writer_when_connected()
        self._write(line)
        self._counters["published"] += 1
        # Back-pressure only when the server stops reading. A failure here means the
        # connection dropped: the read loop reconnects; delivery is at-most-once.
        if self._out.pending >= _OUT_FLUSH_BYTES:
            self._out.flush()
        if writer.transport.get_write_buffer_size() > _OUT_FLUSH_BYTES:
            with contextlib.suppress(OSError):
                await writer.drain()

    def _write(self, line: bytes) -> None:
        """Queue ``line`` for the server (see :class:`~._ndjson.LineBatcher`)."""
        self._out.add(line)

    def _write_now(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            return  # lost with the connection: delivery is at-most-once
        writer.write(data)

    async def subscribe(
        self, subject: str, handler: MessageHandler, *, queue_group: str | None = None
    ) -> Subscription:
        """Subscribe and return once the server has the subscription (see module docs)."""
        self._check_open()
        validate_subject(subject)
        if queue_group is not None:
            validate_queue_group(queue_group)
        await self._writer_when_connected()
        sub_id = f"s{next(self._ids)}"
        inbox = Inbox(handler, max_pending=self._max_pending, name=f"{subject} [{sub_id}]")
        sub = _DevSubscription(self, sub_id, subject, queue_group, inbox)
        self._subs[sub_id] = sub
        mark = self._counters["server_errors"]
        self._write(sub.line)
        try:
            await self.flush()
        except SynapseConnectError as exc:  # replayed on reconnect
            log.debug("subscription %s not confirmed yet: %s", sub_id, exc)
            return sub
        # The server answers a refused ``sub`` with an err naming its sub_id, before the pong.
        refusal = next((m for n, m in self._errors if n > mark and repr(sub_id) in m), None)
        if refusal is not None:
            await self._unsubscribe(sub)
            raise ServerError(f"{self.url} refused the subscription to {subject!r}: {refusal}")
        return sub

    async def _unsubscribe(self, sub: _DevSubscription) -> None:
        if self._subs.pop(sub.sub_id, None) is None:
            return
        if self._writer is not None:
            self._write(_ndjson.unsub_line(sub.sub_id))
        self._delivered_gone += sub.inbox.delivered
        self._dropped_gone += sub.inbox.dropped
        await sub.inbox.aclose()

    async def close(self) -> None:
        """Close the connection, end every subscription and task. Idempotent."""
        if self._closed and self._task is None:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._release()

    async def _release(self) -> None:
        self._out.flush()  # what was published before close() still leaves
        self._closed = True
        self._connected.set()  # wake anyone waiting for a reconnect; they see closed
        writer, self._reader, self._writer = self._writer, None, None
        self._fail_waiters(SynapseClosedError(f"the synapse at {self.url} was closed"))
        subs, self._subs = self._subs, {}
        for sub in subs.values():
            self._delivered_gone += sub.inbox.delivered
            self._dropped_gone += sub.inbox.dropped
            await sub.inbox.aclose()
        if writer is not None:
            writer.close()
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    # -- requests ----------------------------------------------------------------------

    async def _request(self, line: bytes, reply_op: str) -> dict[str, Any]:
        self._check_open()
        await self._writer_when_connected()
        queue = self._waiters.setdefault(reply_op, deque())
        if len(queue) >= _MAX_OUTSTANDING:
            raise SynapseError(f"{self.url}: {len(queue)} requests already await {reply_op!r}")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        queue.append(future)  # replies come in request order: FIFO per reply kind
        self._write(line)
        try:
            return await asyncio.wait_for(future, self._request_timeout)
        except TimeoutError:
            raise SynapseConnectError(
                f"{self.url} did not answer with {reply_op!r} within {self._request_timeout:g} s"
            ) from None

    async def flush(self) -> None:
        """Return once the server has handled every line this client sent before the
        call (a ``ping`` answered by ``pong``).

        Raises :class:`~cosmonapse.SynapseConnectError` if the connection drops first
        or no ``pong`` comes within ``request_timeout``.
        """
        await self._request(_ndjson.PING, "pong")

    async def register_namespace(self, namespace: str, transport: str = "memory") -> None:
        """Declare ``namespace`` to the server (``ns_register``); replayed on reconnect."""
        validate_namespace(namespace)
        self._namespaces[namespace] = transport
        await self._request(
            _ndjson.encode("ns_register", namespace=namespace, transport=transport),
            "ns_registered",
        )

    async def list_namespaces(self) -> list[str]:
        """The namespaces the server knows (``mgmt_list``)."""
        reply = await self._request(_ndjson.encode("mgmt_list"), "mgmt_ns_list")
        names = reply.get("namespaces")
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    async def namespace_info(self, namespace: str) -> dict[str, Any]:
        """The server's counts for ``namespace`` (``mgmt_info``), without the ``op`` key."""
        validate_namespace(namespace)
        reply = await self._request(
            _ndjson.encode("mgmt_info", namespace=namespace), "mgmt_ns_info"
        )
        reply.pop("op", None)
        return reply

    async def stop_namespace(self, namespace: str) -> None:
        """Ask the server to stop ``namespace`` (``mgmt_stop``) and wait for the ack."""
        validate_namespace(namespace)
        self._namespaces.pop(namespace, None)
        await self._request(_ndjson.encode("mgmt_stop", namespace=namespace), "mgmt_stop_ack")


async def connect(url: str = DEFAULT_URL, **options: Any) -> DevSynapse:
    """Entry point of the ``cosmo`` scheme: connect to the dev synapse at ``url``.

    Options, as keywords or in the URL's query (keywords win): ``max_frame_bytes``
    (1 MiB), ``max_pending`` (per-subscription buffer, 65,536), ``connect_timeout`` (5 s),
    ``request_timeout`` (10 s), ``reconnect`` (True), ``reconnect_attempts`` (30),
    ``reconnect_delay`` (0.1 s, doubling), ``reconnect_max_delay`` (2 s). ``token``: the
    URL's password (``cosmo://:TOKEN@host:port``) or the keyword, else the
    ``COSMO_TOKEN`` environment variable, else none.

    Raises :class:`~cosmonapse.SynapseAuthError` when the server refuses the token (or
    requires one), :class:`~cosmonapse.SynapseConnectError` when nothing answers at
    ``url`` (or it does not speak the protocol), :class:`ValueError` for a malformed URL
    or option value.
    """
    host, port, from_url = parse_url(url)
    merged = {**from_url, **options}
    if merged.get("token") is None:
        merged["token"] = os.environ.get("COSMO_TOKEN") or None
    synapse = DevSynapse(host, port, **merged)
    await synapse._start()
    return synapse
