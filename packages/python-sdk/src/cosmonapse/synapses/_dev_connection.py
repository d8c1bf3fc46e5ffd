"""The dev synapse client's connection: open, handshake, read loop, reconnect.

It speaks the opening of docs/protocol.md section 4 (``hello``, then the first
``welcome``) and hands every complete server line to its owner, a
:class:`~cosmonapse.synapses.dev.DevSynapse`, which dispatches it. When the connection
drops it reconnects with exponential backoff and asks the owner what to replay; the
owner decides what the lines mean and when to give up on the synapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from ..exceptions import SynapseAuthError, SynapseConnectError
from . import _ndjson

__all__ = ["ConnectionEvents", "DevConnection", "ReconnectPolicy"]

log = logging.getLogger("cosmonapse.synapse.dev")


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Whether and how to reconnect: ``attempts`` tries, ``delay`` doubling to ``max_delay``."""

    enabled: bool
    attempts: int
    delay: float
    max_delay: float


@dataclass(frozen=True, slots=True)
class ConnectionEvents:
    """What the connection tells its owner, and asks of it."""

    line: Callable[[bytes], None]
    """One complete server line (without its newline)."""
    skip: Callable[[str], None]
    """A server line that was not handled, described."""
    replay: Callable[[], list[bytes]]
    """The lines to send after each handshake (subscriptions, namespaces)."""
    subscriptions: Callable[[], int]
    """How many subscriptions the owner has (for the log)."""
    opened: Callable[[], None]
    """A connection is up (before it is marked connected)."""
    lost: Callable[[str], None]
    """The connection dropped, with the reason."""
    last_error: Callable[[], str | None]
    """The last ``err`` the server sent on this connection, if any."""
    check_open: Callable[[], None]
    """Raise if the synapse is closed or failed."""
    is_closed: Callable[[], bool]
    """True once the synapse is closing."""
    give_up: Callable[[str, type[SynapseConnectError]], Awaitable[None]]
    """Reconnecting failed for good: close the synapse with this message and error."""


class DevConnection:
    """One client's TCP connection to a dev synapse server, kept up until closed."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        url: str,
        hello: bytes,
        max_line: int,
        connect_timeout: float,
        request_timeout: float,
        policy: ReconnectPolicy,
        events: ConnectionEvents,
    ) -> None:
        self._host = host
        self._port = port
        self._url = url
        self._hello = hello
        self._max_line = max_line
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._policy = policy
        self._events = events
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        """Set while connected, and on close to wake waiters."""
        self.reconnects = 0

    @property
    def writer(self) -> asyncio.StreamWriter | None:
        """The live connection's writer, or None while disconnected."""
        return self._writer

    def write(self, data: bytes) -> None:
        """Write ``data`` now if connected; otherwise it is lost (at-most-once)."""
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            return
        writer.write(data)

    def detach(self) -> asyncio.StreamWriter | None:
        """Forget the connection and return its writer (for the caller to close)."""
        writer, self._reader, self._writer = self._writer, None, None
        return writer

    async def open(self) -> None:
        """Connect, shake hands, replay the owner's lines, mark connected."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, limit=self._max_line),
                self._connect_timeout,
            )
        except TimeoutError:
            raise SynapseConnectError(
                f"no answer from {self._url} within {self._connect_timeout:g} s"
            ) from None
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError):
                reason = "connection refused"
            else:
                reason = exc.strerror or str(exc) or type(exc).__name__
            raise SynapseConnectError(
                f"nothing is listening at {self._url} ({reason}); start a dev synapse with: "
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
                    f"{self._url} accepted the connection but did not answer hello within "
                    f"{self._connect_timeout:g} s; is it a dev synapse?"
                ) from None
            if isinstance(exc, (OSError, asyncio.IncompleteReadError)):
                raise SynapseConnectError(
                    f"{self._url} closed the connection during the handshake"
                ) from None
            raise
        for line in self._events.replay():
            writer.write(line)
        self._events.opened()
        self._reader, self._writer = reader, writer
        self.connected.set()

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
                    f"{self._url} does not speak the dev synapse protocol "
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
                    f"{self._url} refused the connection: {message}"
                )
        raise SynapseConnectError(f"{self._url} never answered hello with welcome")

    async def run(self) -> None:
        """Own the connection: read until it drops, then reconnect, until closed."""
        events = self._events
        while True:
            reader = self._reader
            assert reader is not None
            reason = await self._read_loop(reader)
            if events.is_closed():
                return
            self.connected.clear()
            writer = self.detach()
            if writer is not None:
                writer.close()
            events.lost(reason)
            if not self._policy.enabled:
                await events.give_up(
                    f"lost the connection to {self._url}: {reason}", SynapseConnectError
                )
                return
            if not await self._reconnect_loop(reason):
                return

    async def _read_loop(self, reader: asyncio.StreamReader) -> str:
        """Hand server lines to the owner until the connection ends; returns why it ended.

        Reads whatever the socket has (up to ``READ_CHUNK``) and handles every complete
        line in it, so a busy connection costs one wake-up per chunk, not per line; it
        yields to the event loop between pieces of a chunk (``_ndjson.lines_per_turn``).
        """
        splitter = _ndjson.LineSplitter(self._max_line)
        read = reader.read
        on_line = self._events.line
        skip = self._events.skip
        while True:
            try:
                chunk = await read(_ndjson.READ_CHUNK)
            except OSError as exc:
                return f"{type(exc).__name__}: {exc}"
            if not chunk:
                said = self._events.last_error()
                if said is not None:  # the server said why before closing
                    return f"the server closed the connection: {said}"
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
                    skip(f"a line that could not be handled ({exc!r}): {line[:60]!r}")
            if splitter.oversized != oversized:
                skip(f"a line over {self._max_line} bytes")

    async def _reconnect_loop(self, reason: str) -> bool:
        policy = self._policy
        attempts = policy.attempts
        log.warning(
            "lost the connection to %s (%s); reconnecting, up to %d attempts",
            self._url,
            reason,
            attempts,
        )
        delay = policy.delay
        last = reason
        for attempt in range(1, attempts + 1):
            await asyncio.sleep(delay)
            delay = min(delay * 2, policy.max_delay)
            try:
                await self.open()
            except SynapseAuthError as exc:
                # The same token would be refused again: stop now rather than retry.
                await self._events.give_up(f"could not reconnect: {exc}", SynapseAuthError)
                return False
            except SynapseConnectError as exc:
                last = str(exc)
                log.info("reconnect %d/%d to %s failed: %s", attempt, attempts, self._url, last)
                continue
            self.reconnects += 1
            log.warning(
                "reconnected to %s (attempt %d); re-subscribed %d subscription(s)",
                self._url,
                attempt,
                self._events.subscriptions(),
            )
            return True
        await self._events.give_up(
            f"could not reconnect to {self._url} after {attempts} attempts (last error: {last})",
            SynapseConnectError,
        )
        return False

    async def writer_when_connected(self) -> asyncio.StreamWriter:
        """The live connection's writer; while reconnecting, wait up to
        ``request_timeout`` for the next one."""
        writer = self._writer
        if writer is not None and not writer.transport.is_closing():
            return writer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout
        while True:
            self._events.check_open()
            writer = self._writer
            if writer is not None and not writer.transport.is_closing():
                return writer
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise SynapseConnectError(
                    f"not connected to {self._url}: still reconnecting after "
                    f"{self._request_timeout:g} s"
                )
            if self.connected.is_set():
                # The socket is gone but the read loop has not seen it yet: a moment.
                await asyncio.sleep(min(0.01, remaining))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.connected.wait(), remaining)
