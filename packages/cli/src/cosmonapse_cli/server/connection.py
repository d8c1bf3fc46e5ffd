"""One TCP client of the dev synapse: its read loop and its bounded outbound buffer.

Reading: lines are read one at a time (the stream reader's limit is the line limit) and
handed to the server, which handles each synchronously: nothing on this path waits on
another client. A line over the limit gets an ``err`` and ends this connection only.

Writing: lines are queued per connection and leave in one socket write at the end of the
loop iteration (one system call for many lines when traffic is busy), never awaited, so
a publisher is never held up by its receivers. What is queued plus the transport's buffer
is checked on every line; once it holds more than ``max_outbound_bytes`` the client is a
slow consumer and is dropped: it gets an ``err`` and a grace period to read what is
queued (its read loop, subscriptions and connection slot end at the drop), then the
socket is aborted. So no client can make the server's memory grow past
its bound.

Authenticating: on a server with a token a connection starts unauthenticated and has
``hello_timeout_s`` to send its ``hello``. The server refuses anything else with
:meth:`Connection.refuse`: one ``err``, then the connection closes after a bounded
linger that lets the client read why.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from cosmonapse.synapses._ndjson import READ_CHUNK, LineBatcher, LineSplitter

from .limits import ServerLimits
from .protocol import encode_reply
from .routing import Entry, OutboundFrame

__all__ = ["Connection", "ConnectionHost"]

log = logging.getLogger("cosmonapse.devsynapse")


class ConnectionHost(Protocol):
    """What a connection needs from its server."""

    limits: ServerLimits

    def handle_line(self, conn: Connection, line: bytes) -> None:
        """Act on one line (newline included); must not block."""
        ...

    def connection_slow(self, conn: Connection) -> None:
        """``conn`` is being dropped as a slow consumer: count it."""
        ...

    def connection_oversized(self, conn: Connection) -> None:
        """``conn`` sent a line over the limit: count it."""
        ...

    def connection_closed(self, conn: Connection) -> None:
        """``conn`` is gone: forget its subscriptions."""
        ...

    def connection_drained(self, conn: Connection) -> None:
        """A dropped slow consumer's grace is over and its socket aborted."""
        ...

    def hello_timed_out(self, conn: Connection) -> None:
        """``conn`` did not authenticate in time: refuse it (see :meth:`Connection.refuse`)."""
        ...


class Connection:
    """A connected client: a :class:`~cosmonapse_cli.server.routing.Sink` over TCP."""

    __slots__ = (
        "_abort_handle",
        "_closing",
        "_hello_deadline",
        "_host",
        "_max_out",
        "_out",
        "_reader",
        "_refused",
        "_transport",
        "_writer",
        "authenticated",
        "peer",
        "subs",
    )

    def __init__(
        self,
        host: ConnectionHost,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        authenticated: bool = True,
    ) -> None:
        self._host = host
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self._max_out = host.limits.max_outbound_bytes
        self._out = LineBatcher(self._write_now)
        self._closing = False
        self._abort_handle: asyncio.TimerHandle | None = None
        self._refused = False
        self.authenticated = authenticated
        """False until a ``hello`` with the right token (always True without a token)."""
        self._hello_deadline = (
            None
            if authenticated
            else asyncio.get_running_loop().time() + host.limits.hello_timeout_s
        )
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.subs: dict[str, Entry] = {}
        """This connection's subscriptions by ``sub_id``."""

    def __repr__(self) -> str:
        return f"<Connection {self.peer} subs={len(self.subs)}>"

    @property
    def closing(self) -> bool:
        return self._closing

    # -- writing -----------------------------------------------------------------------

    def send(self, line: bytes) -> bool:
        """Queue one line; False when the connection is closing or just got dropped."""
        transport = self._transport
        if self._closing or transport.is_closing():
            return False
        self._out.add(line)
        if self._out.pending + transport.get_write_buffer_size() > self._max_out:
            self._out.flush()
            self._drop_slow()
            return False
        return True

    def _write_now(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def send_error(self, message: str) -> None:
        self.send(encode_reply("err", message=message))

    def deliver(self, entry: Entry, frame: OutboundFrame) -> bool:
        return self.send(entry.head + frame.tail)

    def refuse(self, message: str) -> None:
        """Send ``err`` with ``message``, stop handling this client's lines and close the
        connection once the read loop has lingered (bounded) so the client can read why."""
        if self._closing:
            return
        self.send_error(message)
        self._closing = True
        self._refused = True

    def subscription_ended(self, entry: Entry, reason: str) -> None:
        self.subs.pop(entry.sub_id, None)
        self.send_error(f"subscription {entry.sub_id!r} on {entry.subject!r} ended: {reason}")

    def _drop_slow(self) -> None:
        self._closing = True
        pending = self._transport.get_write_buffer_size()
        log.warning(
            "dropping slow consumer %s: %d bytes unread, over the outbound limit of %d bytes",
            self.peer,
            pending,
            self._max_out,
        )
        self._host.connection_slow(self)
        self._transport.write(
            encode_reply(
                "err",
                message=(
                    f"slow consumer: more than {self._max_out} bytes queued for this client "
                    "and not read; closing the connection"
                ),
            )
        )
        # close() flushes what is queued if the client starts reading; abort() frees the
        # buffer if it never does.
        self._transport.close()
        loop = asyncio.get_running_loop()
        self._abort_handle = loop.call_later(
            self._host.limits.slow_consumer_grace_s, self._end_drain
        )
        # The read loop ends now, not when the socket finally closes: the client's
        # subscriptions and its connection slot are freed at the drop.
        self._reader.feed_eof()

    def _end_drain(self) -> None:
        self._abort_transport()
        self._host.connection_drained(self)

    def _abort_transport(self) -> None:
        transport = self._transport
        # A closing transport with nothing left to write is closed already, or will be at
        # once: aborting one whose buffer drained after close() is an error in asyncio.
        if not transport.is_closing() or transport.get_write_buffer_size():
            transport.abort()

    # -- reading -----------------------------------------------------------------------

    async def serve(self) -> None:
        """Read and dispatch lines until the client leaves or is dropped.

        Until the client has authenticated, lines are read one at a time (the hello
        deadline applies to each); after that, whatever the socket has is read at once
        and every complete line in it handled, one wake-up per chunk rather than per line.
        """
        reader = self._reader
        host = self._host
        splitter = LineSplitter(host.limits.max_line_bytes)
        try:
            while not self._closing:
                if not self.authenticated:
                    try:
                        line = await self._read_before_hello()
                    except asyncio.IncompleteReadError as exc:
                        if exc.partial.strip() and not self._closing:  # no \n at the end
                            host.handle_line(self, exc.partial)
                        return
                    except asyncio.LimitOverrunError:
                        host.connection_oversized(self)
                        await self._refuse_oversized()
                        return
                    if not self._closing:
                        host.handle_line(self, line)
                    continue
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    if splitter.pending and not self._closing:  # a last line without \n
                        host.handle_line(self, splitter.feed(b"\n")[0])
                    return
                for line in splitter.feed(chunk):
                    if self._closing:
                        break
                    try:
                        host.handle_line(self, line)
                    except Exception as exc:  # a server bug must not end this client silently
                        log.error("%s: line not handled: %r", self.peer, exc, exc_info=exc)
                        self.send_error(f"the server could not handle that line ({exc!r:.200})")
                if splitter.oversized:
                    host.connection_oversized(self)
                    await self._refuse_oversized()
                    return
            if self._refused:
                await self._linger()
        except (ConnectionError, OSError) as exc:
            log.debug("connection %s failed: %s", self.peer, exc)
        finally:
            self._out.flush()
            self._closing = True
            host.connection_closed(self)
            self.subs.clear()
            self._transport.close()

    async def _read_before_hello(self) -> bytes:
        """The next line, within what is left of the hello deadline. When the deadline
        passes, the host refuses the connection and an empty line is returned."""
        assert self._hello_deadline is not None
        try:
            async with asyncio.timeout_at(self._hello_deadline):
                return await self._reader.readuntil(b"\n")
        except TimeoutError:
            self._host.hello_timed_out(self)
            return b""

    async def _refuse_oversized(self) -> None:
        limit = self._host.limits.max_line_bytes
        log.warning("closing %s: it sent a line over the limit of %d bytes", self.peer, limit)
        self.send_error(f"line too long: over the limit of {limit} bytes; closing this connection")
        self._closing = True
        await self._linger()

    async def _linger(self) -> None:
        self._out.flush()
        transport = self._transport
        if transport.can_write_eof():
            transport.write_eof()
        # Read and discard what the client is still sending, for a bounded time, so the
        # close does not reset the connection before the client has read the err line.
        try:
            async with asyncio.timeout(self._host.limits.slow_consumer_grace_s):
                while await self._reader.read(65_536):
                    pass
        except (TimeoutError, ConnectionError, OSError):
            pass

    def close(self) -> None:
        """Stop reading and close once queued lines are flushed (server shutdown)."""
        self._out.flush()
        self._closing = True
        self._transport.close()

    def abort(self) -> None:
        """Drop the socket at once, discarding anything queued (a dropped slow consumer's
        grace included)."""
        self._closing = True
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        self._abort_transport()
