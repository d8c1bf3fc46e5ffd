"""NatsSynapse: the Synapse on a NATS server or cluster (``pip install "cosmonapse[nats]"``).

Subjects and queue groups map one to one onto NATS (docs/protocol.md section 3): the subject
string is the NATS subject, ``queue_group`` is the NATS queue group, and the frame bytes
are the message data, with no header and no wrapping. A peer on the published 0.1.x
protocol that talks to the same NATS server therefore sees the same Signals.

Delivery is what core NATS gives: at most once. NATS keeps the order of the messages one
connection publishes; it stores nothing, redelivers nothing, and what is in flight while
a server dies or a client fails over can be lost. See docs/transports/nats.md.

Concurrency follows the Synapse contract: nats-py awaits one callback at a time per
subscription, so a handler must return promptly (the Dendrite only schedules work there).
Each subscription buffers at most ``max_pending`` messages and ``max_pending_bytes`` bytes
in the client; past either bound nats-py drops new messages for that subscription (a
"slow consumer"), and they are counted in ``stats["dropped"]``.

The client reconnects on its own: to the same server after a restart, or to any other
server it knows (the URL's list plus the servers a cluster advertises). Subscriptions are
restored on the new connection. Disconnects, reconnects and fail-overs are logged on the
``cosmonapse.synapse.nats`` logger at WARNING.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as ClientSubscription

from ..exceptions import (
    FrameTooLargeError,
    PluginNotInstalledError,
    SynapseAuthError,
    SynapseClosedError,
    SynapseConnectError,
    SynapseError,
)
from ..subjects import validate_queue_group, validate_subject
from ._inbox import is_plain_handler
from ._nats_client import DirectClient
from ._nats_config import DEFAULT_URL, NatsConfig, parse_config
from ._nats_subscription import NatsSubscription
from .base import MessageHandler, Subscription, Synapse

__all__ = ["NatsSynapse", "connect"]

log = logging.getLogger("cosmonapse.synapse.nats")

_KNOWN_SUBJECTS = 1024  # published subjects remembered as valid (the rest: checked each time)
_LOG_EVERY = 1000  # repeated events (drops, failed reconnect attempts) log the 1st and every Nth


class NatsSynapse(Synapse):
    """A Synapse on NATS. Create it with :func:`connect` (or ``connect_synapse("nats://...")``).

    ``url`` lists the servers without credentials; ``max_frame_bytes`` is the connected
    server's ``max_payload`` (refreshed after every reconnect).
    """

    plain_handlers = True

    def __init__(self, config: NatsConfig) -> None:
        """Prepare an unconnected Synapse; :func:`connect` calls this and then connects."""
        self._config = config
        self.url = config.url
        self._client = DirectClient()
        self._subs: dict[ClientSubscription, NatsSubscription] = {}
        self._valid_subjects: set[str] = set()
        # a subclass with a publish of its own (JetStream's) keeps it for every frame
        self._posts_directly = type(self).publish is NatsSynapse.publish
        self._tasks: set[asyncio.Task[None]] = set()
        self._connecting = False
        self._connect_errors: list[BaseException] = []
        self._gave_up = asyncio.Event()
        self._closing = False
        self._closed = False
        self._close_done = asyncio.Event()
        self._lost = asyncio.Event()  # the connection dropped while closing
        self._server = ""  # host:port of the server we are (or were last) connected to
        self._published = 0
        self._delivered_gone = 0  # counted by subscriptions that have since ended
        self._dropped = 0
        self._disconnects = 0
        self._failed_attempts = 0
        self._disconnect_reason = "connection lost"
        self._announced = False  # the current disconnect was logged

    # -- connecting -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect to the first server that answers; each listed server is tried once.

        Raises SynapseConnectError when none answers (refused, unreachable, timed out, or
        the handshake failed, for instance on bad credentials).
        """
        config = self._config
        self._connecting = True
        options = {
            **config.client_options(),
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            "closed_cb": self._on_closed,
            "discovered_server_cb": self._on_discovered,
            "lame_duck_mode_cb": self._on_lame_duck,
        }
        # Options newer than the oldest supported nats-py (skip_subject_validation) are
        # left out when the installed client does not know them; none changes behaviour.
        accepted = _connect_parameters()
        options = {k: v for k, v in options.items() if k in accepted}
        attempt = asyncio.ensure_future(self._client.connect(**options))
        gave_up = asyncio.ensure_future(self._gave_up.wait())
        # A hang guard only: every attempt is already bounded by connect_timeout.
        deadline = (config.connect_timeout + 1.0) * len(config.servers) + 1.0
        try:
            await asyncio.wait({attempt, gave_up}, timeout=deadline, return_when="FIRST_COMPLETED")
        finally:
            gave_up.cancel()
            self._connecting = False
        if attempt.done() and not attempt.cancelled() and attempt.exception() is None:
            self._server = self._connected_server()
            self.max_frame_bytes = self._client.max_payload
            log.info(
                "connected to NATS server %s (max_payload %d bytes)",
                self._server,
                self.max_frame_bytes,
            )
            return
        attempt.cancel()
        await asyncio.gather(attempt, return_exceptions=True)
        error = attempt.exception() if attempt.done() and not attempt.cancelled() else None
        if error is None and self._connect_errors:
            error = self._connect_errors[-1]
        self._closing = True  # keeps the callbacks quiet while the attempt is torn down
        await self._shutdown_client()
        self._closed = True
        self._close_done.set()
        if isinstance(error, ImportError):  # a creds file needs nkeys
            raise PluginNotInstalledError(
                f'NATS credentials files need the nkeys package: pip install "nats-py[nkeys]" '
                f"({error})"
            ) from None
        if any(_is_auth_error(e) for e in self._connect_errors):
            raise SynapseAuthError(
                f"the NATS server at {self.url} refused the credentials (authorization "
                "violation): check the user and password, token or creds file"
            ) from None
        reason = _describe(error) if error is not None else "no answer before the deadline"
        raise SynapseConnectError(f"no NATS server answered at {self.url}: {reason}") from None

    def _connected_server(self) -> str:
        uri = self._client.connected_url
        return uri.netloc if uri is not None else self._server

    # -- nats-py callbacks (awaited on nats-py's read loop or reconnect task) -----------

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, nats.errors.SlowConsumerError):
            self._dropped += 1
            sub = self._subs.get(exc.sub) if exc.sub is not None else None
            if sub is not None:
                sub.dropped += 1
            if self._dropped % _LOG_EVERY == 1:
                log.warning(
                    "subscription %s is not keeping up: its buffer (%d messages or %d bytes) "
                    "is full, dropping messages (dropped so far: %d)",
                    exc.subject if sub is None else sub.subject,
                    self._config.max_pending,
                    self._config.max_pending_bytes,
                    self._dropped,
                )
            return
        if self._connecting:
            self._connect_errors.append(exc)
            log.debug("NATS connect attempt failed: %s", _describe(exc))
            if len(self._connect_errors) >= len(self._config.servers):
                self._gave_up.set()
            return
        if self._closing:
            log.debug("NATS error while closing: %s", _describe(exc))
            return
        if self._client.is_reconnecting and self._announced:
            self._failed_attempts += 1
            if self._failed_attempts % _LOG_EVERY == 1 or self._failed_attempts <= 3:
                log.warning(
                    "NATS reconnect attempt %d failed: %s; retrying every %.1f s",
                    self._failed_attempts,
                    _describe(exc),
                    self._config.reconnect_time_wait,
                )
            return
        if self._client.is_reconnecting or isinstance(
            exc, OSError | nats.errors.StaleConnectionError
        ):
            # The connection is going down; the disconnect line that follows gives the reason.
            self._disconnect_reason = _describe(exc)
            log.debug("NATS connection to %s failed: %s", self._server, self._disconnect_reason)
            return
        log.warning("NATS error (server %s): %s", self._server, _describe(exc))

    async def _on_disconnected(self) -> None:
        if self._closing:
            self._lost.set()  # cuts a drain short: there is nothing left to drain to
            return
        if self._connecting:
            return
        self._disconnects += 1
        self._failed_attempts = 0
        self._announced = True
        reason, self._disconnect_reason = self._disconnect_reason, "connection lost"
        if self._config.reconnect:
            log.warning(
                "disconnected from NATS server %s (%s); reconnecting, %d subscription(s) to "
                "restore; publishes are buffered up to %d bytes meanwhile and messages in "
                "flight may be lost",
                self._server,
                reason,
                len(self._subs),
                self._config.outbound_buffer_bytes,
            )
        else:
            log.warning(
                "disconnected from NATS server %s (%s); reconnecting is off", self._server, reason
            )

    async def _on_reconnected(self) -> None:
        self._announced = False
        previous, current = self._server, self._connected_server()
        self._server = current
        self.max_frame_bytes = self._client.max_payload
        if previous and previous != current:
            log.warning(
                "failed over from NATS server %s to %s; %d subscription(s) restored",
                previous,
                current,
                len(self._subs),
            )
        else:
            log.warning(
                "reconnected to NATS server %s; %d subscription(s) restored",
                current,
                len(self._subs),
            )

    async def _on_closed(self) -> None:
        if self._closing or self._connecting:
            return
        error = self._client.last_error
        log.error(
            "the NATS connection to %s is closed for good (%s); this synapse can no longer "
            "publish or receive",
            self.url,
            "gave up reconnecting" if error is None else _describe(error),
        )

    async def _on_discovered(self) -> None:
        found = ", ".join(sorted(u.netloc for u in self._client.discovered_servers))
        log.info("NATS cluster advertised servers to fail over to: %s", found)

    async def _on_lame_duck(self) -> None:
        log.warning(
            "NATS server %s is shutting down (lame duck mode); the client will move to "
            "another server",
            self._server,
        )

    # -- the Synapse interface --------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed or self._closing or self._client.is_closed

    @property
    def stats(self) -> dict[str, int]:
        """``published``, ``delivered``, ``dropped`` (slow-consumer drops), ``subscriptions``,
        ``disconnects`` and ``reconnects`` (successful ones, fail-overs included)."""
        return {
            "published": self._published,
            "delivered": self._delivered_gone + sum(s.delivered for s in self._subs.values()),
            "dropped": self._dropped,
            "subscriptions": len(self._subs),
            "disconnects": self._disconnects,
            "reconnects": int(self._client.stats["reconnects"]),
        }

    @property
    def connected_server(self) -> str | None:
        """``host:port`` of the server this client is connected to now, or ``None`` while
        it is disconnected."""
        uri = self._client.connected_url
        return uri.netloc if uri is not None else None

    def publish(self, subject: str, data: bytes) -> Coroutine[object, object, None]:
        """Send one frame; returns once it is queued for the socket (not when delivered).

        While the client is reconnecting, frames are buffered (up to
        ``outbound_buffer_bytes``) and sent once a server answers. Raises SubjectError,
        FrameTooLargeError (past the server's ``max_payload``), SynapseClosedError, and
        SynapseError when disconnected with the buffer full.
        """
        return self._publish(subject, data)  # its coroutine, not one wrapping it

    def post(self, subject: str, data: bytes) -> Awaitable[None] | None:
        """:meth:`publish`, queued for the socket at once (None) while connected, to a
        subject published before and within ``max_payload``; otherwise the coroutine of
        :meth:`publish` (see :meth:`Synapse.post`)."""
        if (
            self._posts_directly
            and not (self._closing or self._closed)  # a closed client is not connected
            and subject in self._valid_subjects  # a str, checked before
            and len(data) <= self._client.max_payload
            and self._client.queue_now(subject, data)
        ):
            self._published += 1
            return None
        return self.publish(subject, data)

    async def _publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """:meth:`publish`, with optional NATS headers (peers that ignore them see the
        same frame)."""
        if self.closed:
            raise SynapseClosedError(f"publish on a closed NatsSynapse ({self.url})")
        valid = self._valid_subjects
        if type(subject) is not str or subject not in valid:
            validate_subject(subject, wildcards=False)  # a pure check: remembered once passed
            if len(valid) < _KNOWN_SUBJECTS:
                valid.add(subject)
        limit = self._client.max_payload
        if len(data) > limit:
            raise FrameTooLargeError(len(data), limit)
        try:
            await self._client.publish(subject, data, headers=headers)
        except nats.errors.OutboundBufferLimitError:
            raise SynapseError(
                f"not connected to NATS ({self.url}) and the outbound buffer of "
                f"{self._config.outbound_buffer_bytes} bytes is full; the frame was not sent"
            ) from None
        except nats.errors.MaxPayloadError:
            raise FrameTooLargeError(len(data), self._client.max_payload) from None
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
            raise SynapseClosedError(f"publish on a closed NatsSynapse ({self.url})") from None
        self._published += 1

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        """Subscribe; when connected, returns once the server has registered the interest.

        In a cluster the interest reaches the other servers shortly after (NATS routes
        propagate it asynchronously). While reconnecting, the subscription is registered
        as soon as a server answers.
        """
        return await self._subscribe(subject, handler, queue_group=queue_group)

    async def _subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
        accept: Callable[[Msg], bool] | None = None,
    ) -> Subscription:
        """:meth:`subscribe`; ``accept``, when given, sees each message first and drops
        it by returning false."""
        if self.closed:
            raise SynapseClosedError(f"subscribe on a closed NatsSynapse ({self.url})")
        validate_subject(subject)
        if queue_group is not None:
            validate_queue_group(queue_group)
        sub = NatsSubscription(self._forget, self._spawn, subject, queue_group, handler, accept)
        try:
            client_sub = await self._client.subscribe(
                subject,
                queue=queue_group or "",
                cb=sub.deliver,
                pending_msgs_limit=self._config.max_pending,
                pending_bytes_limit=self._config.max_pending_bytes,
            )
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
            raise SynapseClosedError(f"subscribe on a closed NatsSynapse ({self.url})") from None
        sub.client_sub = client_sub
        self._subs[client_sub] = sub
        if accept is None and is_plain_handler(handler):
            # the Dendrite's handler: straight from the read loop, no queue (_nats_client.py)
            self._client.deliver_directly(client_sub, sub.deliver_now)
        if self._client.is_connected:
            try:
                await self._round_trip()
            except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as exc:
                log.debug("subscribe %s: no round trip: %s", subject, _describe(exc))
        return sub

    async def _round_trip(self) -> None:
        """Return once the server has processed every command this client sent before.

        nats-py writes PING straight to the socket while other commands wait in its
        buffer for its flusher task, so the PONG of a single flush can come back before
        the server has seen a SUB queued just before it. The first round trip gives the
        flusher its turn (it was woken before the PING left); the second PING then
        travels behind everything queued earlier.
        """
        timeout = max(1, int(self._config.connect_timeout))
        await self._client.flush(timeout=timeout)
        await self._client.flush(timeout=timeout)

    def _forget(self, sub: NatsSubscription) -> None:
        if sub.client_sub is not None:
            self._client.forget(sub.client_sub)
        if sub.client_sub is not None and self._subs.pop(sub.client_sub, None) is sub:
            self._delivered_gone += sub.delivered

    def _spawn(self, coro: Coroutine[object, object, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Drain and close: stop receiving, let handlers finish what is already buffered
        (bounded by ``drain_timeout``), flush buffered publishes, then disconnect.
        Idempotent; concurrent calls all return once it is done.

        Called from inside one of this Synapse's own handlers, it skips the drain (which
        would wait for that very handler), and the handler is cancelled at its next await.
        """
        if self._closing or self._closed:
            await self._close_done.wait()
            return
        self._closing = True
        current = asyncio.current_task()
        try:
            client = self._client
            from_handler = any(sub.task is current for sub in self._subs.values())
            if client.is_connected and not from_handler:
                await self._drain()
            await self._shutdown_client()
        finally:
            for sub in self._subs.values():
                sub.closed = True
                self._delivered_gone += sub.delivered
            self._subs.clear()
            self._closed = True
            self._close_done.set()
            tasks = [task for task in self._tasks if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self) -> None:
        """Unsubscribe, let handlers finish the messages already buffered, and make sure
        the server has every publish. Bounded by ``drain_timeout``; cut short when the
        connection drops meanwhile (nats-py's own drain would wait for a server that is
        gone)."""
        client_subs = [s.client_sub for s in self._subs.values() if s.client_sub is not None]

        async def drain() -> None:
            drains = (sub.drain() for sub in client_subs)  # type: ignore[no-untyped-call]
            await asyncio.gather(*drains, return_exceptions=True)
            await self._round_trip()

        work = asyncio.ensure_future(drain())
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait(
                {work, lost}, timeout=self._config.drain_timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            for task in (work, lost):
                task.cancel()
            await asyncio.gather(work, lost, return_exceptions=True)
        if self._lost.is_set():
            log.warning("the NATS connection dropped while closing; buffered messages are lost")
        elif work.cancelled():
            log.warning(
                "draining the NATS connection did not finish within %.1f s",
                self._config.drain_timeout,
            )
        elif (error := work.exception()) is not None:
            log.warning("draining the NATS connection failed: %s", _describe(error))

    async def _shutdown_client(self) -> None:
        if self._client.is_closed:
            return
        try:
            await asyncio.wait_for(self._client.close(), self._config.connect_timeout + 2.0)
        except Exception as exc:  # TimeoutError included
            log.warning("closing the NATS connection failed: %s", _describe(exc))


@functools.cache
def _connect_parameters() -> frozenset[str]:
    return frozenset(inspect.signature(Client.connect).parameters)


def _is_auth_error(exc: BaseException) -> bool:
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization" in str(exc).lower()


def _describe(exc: BaseException) -> str:
    """A one-line reason for ``exc``; nats-py errors often stringify to nothing useful."""
    text = str(exc).strip()
    name = type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError | TimeoutError) and not text:
        return "timed out"
    return f"{name}: {text}" if text else name


async def connect(url: str = DEFAULT_URL, **options: object) -> NatsSynapse:
    """Entry point for the ``nats`` scheme: connect and return a ready :class:`NatsSynapse`.

    ``url`` is ``nats://host:port``, optionally several separated by commas, optionally
    with ``user:password@`` or ``token@`` before the host (``tls://`` requires TLS).
    Keyword options (all optional):

    * credentials: ``user``, ``password``, ``token``, ``creds`` (path of a ``.creds``
      file; needs ``nats-py[nkeys]``), ``tls`` (an ``ssl.SSLContext``), ``tls_hostname``;
    * ``name``: the connection name the server shows (default ``"cosmonapse"``);
    * ``connect_timeout`` (s, per attempt, default 2), ``reconnect`` (default True),
      ``reconnect_time_wait`` (s between rounds of attempts, default 1),
      ``max_reconnect_attempts`` (per server, default -1: forever), ``ping_interval``
      (s, default 20) and ``max_outstanding_pings`` (default 3), which together bound how
      long a dead but silent server goes unnoticed;
    * ``max_pending`` (messages, default 65,536) and ``max_pending_bytes`` (default
      64 MiB) per subscription; ``outbound_buffer_bytes`` (default 8 MiB) buffered while
      reconnecting; ``drain_timeout`` (s, default 5) for :meth:`NatsSynapse.close`.

    Each listed server is tried once. Raises :class:`~cosmonapse.SynapseConnectError`
    when none answers (quickly when connections are refused; at worst after
    ``connect_timeout`` per server), :class:`TypeError` for an unknown option and
    :class:`ValueError` for a malformed URL or value. No message carries credentials.
    """
    config = parse_config(url, dict(options))
    synapse = NatsSynapse(config)
    await synapse.open()
    return synapse
