"""The dev synapse server: ``cosmo://host:port`` over TCP and NDJSON (docs/protocol.md section 4).

One asyncio server, one :class:`~.connection.Connection` per client, one
:class:`~.routing.Router` shared by all. Each client line is handled synchronously, in
order, with no await: replies come back in the order requests were sent, and a publish is
fanned out into the receivers' outbound buffers before the publisher's next line is read.

Usage in tests and tools::

    async with DevSynapseServer("127.0.0.1", port=0) as server:
        synapse = await connect_synapse(server.url)
        ...

The server is for one host in development. It listens on loopback unless told otherwise.
Without a token it writes ``{"op":"welcome"}`` to each client as soon as it connects, before
the client says anything (clients of the published protocol wait for that banner and never
send ``hello``); a ``hello`` is answered with another ``welcome``. With a ``token`` there
is no banner and every client must authenticate: its first line must be
``{"op":"hello","token":"..."}`` (answered with ``welcome``); anything else, a missing or
wrong token, or no hello within ``limits.hello_timeout_s`` gets one ``err`` and the
connection is closed. Listening on any other address requires a token
(:class:`~cosmonapse_cli.ConfigError` otherwise); the token only gates access, it does not
encrypt the traffic.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from types import TracebackType
from typing import Any

import orjson
from cosmonapse.subjects import validate_namespace
from cosmonapse.synapses import DEFAULT_MAX_PENDING

from ..exceptions import ConfigError, ProtocolError
from .connection import Connection
from .limits import ServerLimits
from .local import LocalSynapse
from .namespaces import NamespaceTable
from .protocol import (
    Hello,
    MgmtInfo,
    MgmtList,
    MgmtStop,
    NsRegister,
    Ping,
    Pub,
    Sub,
    Unsub,
    encode_reply,
    parse_request,
)
from .routing import Entry, OutboundFrame, Router, namespace_of

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DevSynapseServer", "is_loopback"]

log = logging.getLogger("cosmonapse.devsynapse")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7070

_WELCOME = encode_reply("welcome")
_PONG = encode_reply("pong")
_SHUTDOWN_GRACE_S = 2.0
_LOUD_AUTH_FAILURES = 20  # refusals logged one by one before sampling
_HELLO_WITH_TOKEN = '{"op":"hello","token":"..."}'


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine (``localhost``, ``127.x``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DevSynapseServer:
    """A dev synapse listening on ``host:port`` (port 0 picks a free port).

    Start it with :meth:`start` or ``async with``; :attr:`url` is then the real
    ``cosmo://host:port``. :meth:`close` stops accepting, closes every client and ends
    every task the server owns; it is idempotent. ``namespace`` (optional) is registered
    up front so it shows in ``mgmt_list`` before any traffic.

    ``token`` (optional) is a shared secret every client must present in its ``hello``
    (see the module docstring); it is compared in constant time and never logged. Without
    it, :meth:`start` refuses any ``host`` that is not loopback.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        limits: ServerLimits | None = None,
        namespace: str | None = None,
        token: str | None = None,
    ) -> None:
        if token is not None:
            if not isinstance(token, str):
                raise TypeError("token must be a string")
            if not token:
                raise ConfigError("the dev synapse token must not be empty")
        self._token = token.encode() if token is not None else None
        self.limits = limits if limits is not None else ServerLimits()
        self._host = host
        self._port = port
        self._router = Router()
        self._namespaces = NamespaceTable(max_namespaces=self.limits.max_namespaces)
        if namespace is not None:
            self._namespaces.register(validate_namespace(namespace), "memory")
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._draining: set[Connection] = set()  # dropped slow consumers within their grace
        self._tasks: set[asyncio.Task[Any]] = set()
        self._locals: list[LocalSynapse] = []
        self._closed = False
        self._stopped = asyncio.Event()
        self._counters = dict.fromkeys(
            (
                "connections_total",
                "refused_connections",
                "published",
                "delivered",
                "protocol_errors",
                "oversized_lines",
                "slow_consumers",
                "auth_failures",
            ),
            0,
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start accepting.

        Raises :class:`~cosmonapse_cli.ConfigError` when ``host`` is not loopback and no
        token was given (nothing is bound), :class:`OSError` when the address is taken.
        """
        if self._server is not None:
            return
        if self._closed:
            raise RuntimeError("a closed DevSynapseServer cannot be started again")
        if not is_loopback(self._host):
            if self._token is None:
                raise ConfigError(
                    f"refusing to listen on {self._host!r} without a token: anyone who can "
                    "reach that address could read and publish every Signal. Set a shared "
                    "token with --token or the COSMO_TOKEN environment variable "
                    "(DevSynapseServer(token=...) in code), or listen on 127.0.0.1"
                )
            log.warning(
                "the dev synapse listens on %s: clients must present the token, but the "
                "traffic (the token included) is not encrypted; use it on a network you trust",
                self._host,
            )
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, limit=self.limits.max_line_bytes
        )
        sockets = self._server.sockets
        if sockets:
            self._port = sockets[0].getsockname()[1]
        log.info("dev synapse listening on %s", self.url)

    async def close(self) -> None:
        """Stop accepting, close every client and in-process synapse, end every task."""
        if self._closed:
            return
        self._closed = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self._connections):
            conn.close()
        for conn in list(self._draining):
            conn.abort()
        self._draining.clear()
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_SHUTDOWN_GRACE_S)
            for conn in list(self._connections):
                conn.abort()
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for local in self._locals:
            await local.close()
        self._locals.clear()
        if server is not None:
            try:
                await asyncio.wait_for(server.wait_closed(), _SHUTDOWN_GRACE_S)
            except TimeoutError:
                log.warning("dev synapse: some connections did not close in time")
        self._stopped.set()

    async def serve_forever(self) -> None:
        """Wait until :meth:`close` has run (start first)."""
        await self._stopped.wait()

    async def __aenter__(self) -> DevSynapseServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- public views ------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port listened on (the real one once started with port 0)."""
        return self._port

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Every ``(address, port)`` the server listens on (empty before start)."""
        server = self._server
        if server is None:
            return []
        return [tuple(sock.getsockname()[:2]) for sock in server.sockets]

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"cosmo://{host}:{self._port}"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def token_required(self) -> bool:
        """True when clients must present a token in their ``hello``."""
        return self._token is not None

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start: ``connections`` (now), ``connections_total``,
        ``refused_connections`` (over ``max_connections``), ``subscriptions`` (now),
        ``published``, ``delivered``, ``protocol_errors`` (``err`` replies to bad lines),
        ``oversized_lines``, ``slow_consumers`` (clients dropped for not reading),
        ``auth_failures`` (connections refused for a missing or wrong token, or no hello
        in time), ``namespaces`` (known now)."""
        return {
            "connections": len(self._connections),
            "subscriptions": len(self._router),
            "namespaces": len(self._namespaces.names()),
            **self._counters,
        }

    def namespaces(self) -> list[str]:
        """Known namespaces, sorted."""
        return self._namespaces.names()

    def namespace_info(self, namespace: str) -> dict[str, Any]:
        """The counts ``mgmt_info`` answers with (see :meth:`NamespaceTable.info`)."""
        return self._namespaces.info(namespace, self._router.entries())

    def register_namespace(self, namespace: str, transport: str = "memory") -> None:
        self._namespaces.register(namespace, transport)

    def stop_namespace(self, namespace: str) -> int:
        """End every subscription inside ``namespace`` (their owners are told why) and
        forget its counts. Returns how many subscriptions ended."""
        ended = [e for e in self._router.entries() if e.namespace == namespace]
        for entry in ended:
            self._router.remove(entry)
            entry.owner.subscription_ended(entry, f"namespace {namespace!r} was stopped")
        self._namespaces.forget(namespace)
        return len(ended)

    def open_local_synapse(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> LocalSynapse:
        """A :class:`~cosmonapse.Synapse` on this server without a socket (closed with it)."""
        local = LocalSynapse(self, max_pending=max_pending)
        self._locals.append(local)
        return local

    # -- routing (used by connections and local synapses) ------------------------------

    def publish_frame(self, subject: str, frame: str) -> int:
        """Fan ``frame`` out to every matching subscription; returns how many took it."""
        delivered = self._router.fan_out(OutboundFrame(subject, frame))
        counters = self._counters
        counters["published"] += 1
        counters["delivered"] += delivered
        namespace = namespace_of(subject)
        if namespace is not None:
            tokens = subject.split(".", 3)
            self._namespaces.record(namespace, tokens[2] if len(tokens) > 2 else "", delivered)
        return delivered

    def add_subscription(self, entry: Entry) -> None:
        self._router.add(entry)
        if entry.namespace is not None:
            self._namespaces.touch(entry.namespace)

    def remove_subscription(self, entry: Entry) -> None:
        self._router.remove(entry)

    # -- connections -------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closed or len(self._connections) >= self.limits.max_connections:
            self._counters["refused_connections"] += 1
            writer.write(
                encode_reply(
                    "err",
                    message=f"connection limit of {self.limits.max_connections} reached; "
                    "closing this connection",
                )
            )
            writer.close()
            return
        conn = Connection(self, reader, writer, authenticated=self._token is None)
        if conn.authenticated:
            # The opening banner (docs/protocol.md, section 4): published clients wait for
            # it and never send hello. A server with a token welcomes only a right hello.
            conn.send(_WELCOME)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(conn)
        self._tasks.add(task)
        self._counters["connections_total"] += 1
        log.debug("client %s connected", conn.peer)
        try:
            await conn.serve()
        finally:
            self._connections.discard(conn)
            self._tasks.discard(task)
            log.debug("client %s disconnected", conn.peer)

    def connection_slow(self, conn: Connection) -> None:
        self._counters["slow_consumers"] += 1
        self._draining.add(conn)
        for entry in conn.subs.values():
            self._router.remove(entry)

    def connection_drained(self, conn: Connection) -> None:
        self._draining.discard(conn)

    def connection_oversized(self, conn: Connection) -> None:
        self._counters["oversized_lines"] += 1

    def connection_closed(self, conn: Connection) -> None:
        for entry in conn.subs.values():
            self._router.remove(entry)

    def hello_timed_out(self, conn: Connection) -> None:
        timeout = self.limits.hello_timeout_s
        self._refuse(
            conn,
            f"authentication required: no {_HELLO_WITH_TOKEN} within {timeout:g} s",
            "no hello in time",
        )

    def _refuse(self, conn: Connection, reason: str, short: str) -> None:
        """Count, log (``short``, never a token) and refuse ``conn`` with ``reason``."""
        count = self._counters["auth_failures"] = self._counters["auth_failures"] + 1
        if count <= _LOUD_AUTH_FAILURES or count % 1000 == 0:
            log.warning("refused client %s: %s (refusals so far: %d)", conn.peer, short, count)
        conn.refuse(f"{reason}; closing the connection")

    def _authenticate(self, conn: Connection, line: bytes) -> None:
        """Handle a line of a connection that has not authenticated yet: only a ``hello``
        with the right token is accepted; anything else ends the connection."""
        try:
            request = parse_request(line)
        except ProtocolError as exc:
            self._refuse(
                conn,
                f"authentication required: the first line must be {_HELLO_WITH_TOKEN} ({exc})",
                "an invalid first line",
            )
            return
        if not isinstance(request, Hello):
            op = orjson.loads(line)["op"]  # parse_request accepted it: an object with an op
            self._refuse(
                conn,
                f"authentication required: send {_HELLO_WITH_TOKEN} before {op!r}",
                f"{op!r} before hello",
            )
            return
        if request.token is None:
            self._refuse(
                conn,
                "authentication required: this dev synapse needs a token in hello "
                "(connect with cosmo://:TOKEN@host:port or set COSMO_TOKEN)",
                "hello without a token",
            )
            return
        assert self._token is not None
        given = request.token.encode("utf-8", "surrogatepass")  # never raises
        if not hmac.compare_digest(given, self._token):
            self._refuse(conn, "authentication failed: wrong token", "wrong token")
            return
        conn.authenticated = True
        log.debug("client %s authenticated", conn.peer)
        conn.send(_WELCOME)

    def handle_line(self, conn: Connection, line: bytes) -> None:
        line = line.rstrip(b"\r\n")
        if not line.strip():
            return
        if not conn.authenticated:
            self._authenticate(conn, line)
            return
        try:
            request = parse_request(line)
        except ProtocolError as exc:
            self._counters["protocol_errors"] += 1
            conn.send_error(str(exc))
            return
        if isinstance(request, Pub):
            self.publish_frame(request.subject, request.frame)
        elif isinstance(request, Sub):
            self._subscribe(conn, request)
        elif isinstance(request, Unsub):
            entry = conn.subs.pop(request.sub_id, None)
            if entry is not None:
                self._router.remove(entry)
        elif isinstance(request, Ping):
            conn.send(_PONG)
        elif isinstance(request, Hello):
            conn.send(_WELCOME)
        elif isinstance(request, NsRegister):
            self._namespaces.register(request.namespace, request.transport)
            conn.send(encode_reply("ns_registered", namespace=request.namespace))
        elif isinstance(request, MgmtList):
            conn.send(encode_reply("mgmt_ns_list", namespaces=self._namespaces.names()))
        elif isinstance(request, MgmtInfo):
            info = self.namespace_info(request.namespace)
            conn.send(encode_reply("mgmt_ns_info", namespace=request.namespace, **info))
        elif isinstance(request, MgmtStop):
            self.stop_namespace(request.namespace)
            conn.send(encode_reply("mgmt_stop_ack", namespace=request.namespace))

    def _subscribe(self, conn: Connection, request: Sub) -> None:
        if request.sub_id in conn.subs:
            self._counters["protocol_errors"] += 1
            conn.send_error(f"sub: sub_id {request.sub_id!r} is already in use on this connection")
            return
        if len(conn.subs) >= self.limits.max_subscriptions:
            self._counters["protocol_errors"] += 1
            conn.send_error(
                f"sub: subscription limit of {self.limits.max_subscriptions} per connection "
                f"reached; {request.sub_id!r} refused"
            )
            return
        entry = Entry(conn, request.sub_id, request.subject, request.queue_group)
        conn.subs[request.sub_id] = entry
        self.add_subscription(entry)
