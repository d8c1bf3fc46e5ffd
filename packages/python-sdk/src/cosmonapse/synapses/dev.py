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
from collections.abc import Awaitable
from typing import Any

import orjson

from ..exceptions import (
    FrameTooLargeError,
    ServerError,
    SynapseClosedError,
    SynapseConnectError,
)
from ..subjects import validate_namespace, validate_queue_group, validate_subject
from . import _ndjson
from ._dev_connection import ConnectionEvents, DevConnection, ReconnectPolicy
from ._dev_replies import DevSubscription, ReplyWaiters, ServerErrors
from ._dev_url import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_URL, display_url, parse_url
from ._inbox import Inbox
from .base import DEFAULT_MAX_PENDING, MessageHandler, Subscription, Synapse

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "DEFAULT_URL", "DevSynapse", "connect", "parse_url"]

log = logging.getLogger("cosmonapse.synapse.dev")

DEFAULT_MAX_FRAME_BYTES = 1_048_576
"""The dev synapse's default line limit (1 MiB)."""

_LOUD_ERRORS = 20  # server errors logged one by one before sampling
_KNOWN_SUBJECTS = 1024  # published subjects remembered as valid (the rest: checked each time)
_OUT_FLUSH_BYTES = 256 * 1024  # queued bytes that are written at once, and then drained


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
        self.url = display_url(host, port, token=token is not None)  # never the token itself
        self.max_frame_bytes = max_frame_bytes
        self._max_frame = max_frame_bytes
        self._max_pending = max_pending
        self._request_timeout = request_timeout
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failure: str | None = None
        self._failure_type: type[SynapseConnectError] = SynapseConnectError
        self._subs: dict[str, DevSubscription] = {}
        self._namespaces: dict[str, str] = {}
        self._waiters = ReplyWaiters(self.url)
        self._ids = itertools.count(1)
        self._errors = ServerErrors()
        self._counters = dict.fromkeys(("published", "skipped_lines"), 0)
        self._valid_subjects: set[str] = set()
        # a subclass with a publish of its own keeps it for every frame
        self._posts_directly = type(self).publish is DevSynapse.publish
        self._delivered_gone = 0
        self._dropped_gone = 0
        self._conn = DevConnection(
            host,
            port,
            url=self.url,
            hello=_ndjson.HELLO if token is None else _ndjson.encode("hello", token=token),
            max_line=2 * max_frame_bytes,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            policy=ReconnectPolicy(
                reconnect, reconnect_attempts, reconnect_delay, reconnect_max_delay
            ),
            events=ConnectionEvents(
                line=self._on_line,
                skip=self._skip,
                replay=self._replay_lines,
                subscriptions=lambda: len(self._subs),
                opened=self._errors.forget_recent,
                lost=self._lost,
                last_error=self._errors.latest_recent,
                check_open=self._check_open,
                is_closed=lambda: self._closed,
                give_up=self._give_up,
            ),
        )
        self._out = _ndjson.LineBatcher(self._conn.write)  # one socket write per iteration

    # -- state -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_server_error(self) -> str | None:
        """The message of the most recent ``err`` line from the server."""
        return self._errors.last

    @property
    def connected(self) -> bool:
        """True while a connection to the server is up (False while reconnecting)."""
        return self._conn.writer is not None and not self._closed

    @property
    def stats(self) -> dict[str, int]:
        """``published``, ``delivered``, ``dropped`` (inbox overflow), ``subscriptions``,
        ``reconnects``, ``server_errors`` and ``skipped_lines`` (unreadable server lines)."""
        inboxes = [s.inbox for s in self._subs.values()]
        return {
            **self._counters,
            "reconnects": self._conn.reconnects,
            "server_errors": self._errors.count,
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
        await self._conn.open()
        self._task = asyncio.get_running_loop().create_task(
            self._conn.run(), name=f"cosmonapse-dev-synapse:{self.url}"
        )

    def _replay_lines(self) -> list[bytes]:
        """What a new connection must say again: every subscription and namespace."""
        lines = [sub.line for sub in self._subs.values()]
        for namespace, transport in self._namespaces.items():
            lines.append(_ndjson.encode("ns_register", namespace=namespace, transport=transport))
        return lines

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
            self._waiters.resolve(op, reply)

    def _skip(self, what: str) -> None:
        self._counters["skipped_lines"] += 1
        log.warning("%s: skipped %s from the server", self.url, what)

    def _server_error(self, message: str) -> None:
        count = self._errors.record(message)
        if count <= _LOUD_ERRORS or count % 1000 == 0:
            log.warning("%s answered err: %s (errors so far: %d)", self.url, message, count)

    def _lost(self, reason: str) -> None:
        self._waiters.fail_all(
            SynapseConnectError(f"the connection to {self.url} was lost: {reason}")
        )

    async def _give_up(
        self, message: str, error: type[SynapseConnectError] = SynapseConnectError
    ) -> None:
        log.error("%s; this synapse is now closed", message)
        self._failure = message
        self._failure_type = error
        await self._release()

    # -- Synapse -----------------------------------------------------------------------

    async def publish(self, subject: str, data: bytes) -> None:
        """Send one frame; see :meth:`Synapse.publish`.

        The limit applies to the encoded line (the frame as a JSON string plus the
        envelope), since that is what the server measures. While reconnecting this waits
        up to ``request_timeout``, then raises :class:`~cosmonapse.SynapseConnectError`.
        """
        self._check_open()
        valid = self._valid_subjects
        if subject not in valid:
            validate_subject(subject, wildcards=False)  # a pure check: remembered once passed
            if len(valid) < _KNOWN_SUBJECTS:
                valid.add(subject)
        if len(data) > self._max_frame:
            raise FrameTooLargeError(len(data), self._max_frame)
        line = _ndjson.pub_line(subject, data)
        if len(line) - 1 > self._max_frame:  # the server does not count the newline
            raise FrameTooLargeError(len(line) - 1, self._max_frame)
        writer = self._conn.writer
        if writer is None or writer.transport.is_closing():
            writer = await self._conn.writer_when_connected()
        draining = self._queue_line(writer, line)
        if draining is not None:
            await draining

    def post(self, subject: str, data: bytes) -> Awaitable[None] | None:
        """:meth:`publish`, queued at once (None) while connected, to a subject published
        before; otherwise the coroutine of :meth:`publish` (see :meth:`Synapse.post`). The
        awaitable it returns after queueing, when the server has stopped reading, waits
        for the socket to drain."""
        writer = self._conn.writer
        if (
            not self._posts_directly
            or subject not in self._valid_subjects
            or self._failure is not None
            or self._closed
            or writer is None
            or writer.transport.is_closing()
            or len(data) > self._max_frame
        ):
            return self.publish(subject, data)
        line = _ndjson.pub_line(subject, data)
        if len(line) - 1 > self._max_frame:  # the server does not count the newline
            return self.publish(subject, data)  # which raises FrameTooLargeError
        return self._queue_line(writer, line)

    def _queue_line(self, writer: asyncio.StreamWriter, line: bytes) -> Awaitable[None] | None:
        """Queue a checked ``pub`` line; the drain to await when the server has stopped
        reading, else None."""
        self._write(line)
        self._counters["published"] += 1
        # Back-pressure only when the server stops reading. A failure here means the
        # connection dropped: the read loop reconnects; delivery is at-most-once.
        if self._out.pending >= _OUT_FLUSH_BYTES:
            self._out.flush()
        if writer.transport.get_write_buffer_size() > _OUT_FLUSH_BYTES:
            return self._drain(writer)
        return None

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):  # the connection dropped: the read loop reconnects
            await writer.drain()

    def _write(self, line: bytes) -> None:
        """Queue ``line`` for the server (see :class:`~._ndjson.LineBatcher`)."""
        self._out.add(line)

    async def subscribe(
        self, subject: str, handler: MessageHandler, *, queue_group: str | None = None
    ) -> Subscription:
        """Subscribe and return once the server has the subscription (see module docs)."""
        self._check_open()
        validate_subject(subject)
        if queue_group is not None:
            validate_queue_group(queue_group)
        await self._conn.writer_when_connected()
        sub_id = f"s{next(self._ids)}"
        inbox = Inbox(handler, max_pending=self._max_pending, name=f"{subject} [{sub_id}]")
        sub = DevSubscription(self._unsubscribe, sub_id, subject, queue_group, inbox)
        self._subs[sub_id] = sub
        mark = self._errors.count
        self._write(sub.line)
        try:
            await self.flush()
        except SynapseConnectError as exc:  # replayed on reconnect
            log.debug("subscription %s not confirmed yet: %s", sub_id, exc)
            return sub
        # The server answers a refused ``sub`` with an err naming its sub_id, before the pong.
        refusal = self._errors.since(mark, repr(sub_id))
        if refusal is not None:
            await self._unsubscribe(sub)
            raise ServerError(f"{self.url} refused the subscription to {subject!r}: {refusal}")
        return sub

    async def _unsubscribe(self, sub: DevSubscription) -> None:
        if self._subs.pop(sub.sub_id, None) is None:
            return
        if self._conn.writer is not None:
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
        self._conn.connected.set()  # wake anyone waiting for a reconnect; they see closed
        writer = self._conn.detach()
        self._waiters.fail_all(SynapseClosedError(f"the synapse at {self.url} was closed"))
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
        await self._conn.writer_when_connected()
        future = self._waiters.expect(reply_op)  # replies come in request order
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
