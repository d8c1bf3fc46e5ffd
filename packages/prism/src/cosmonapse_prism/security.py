"""The guard in front of the app: Host and Origin checks and security headers.

Prism listens on loopback, but a loopback port is still reachable from any web page the
user has open. Three rules keep other pages out:

* **Host.** Every request must name the server by a loopback address or ``localhost``
  with the port it listens on. This stops DNS rebinding, where a hostile name resolves
  to 127.0.0.1 and the browser treats the hostile page as same-origin.
* **Origin.** The event stream and any WebSocket upgrade are refused with 403 when they
  carry an ``Origin`` other than the server's own, or ``Sec-Fetch-Site: cross-site`` /
  ``same-site``. Requests without an ``Origin`` (curl, same-origin GETs) are allowed.
* **Headers.** Every response says: no inline script, no framing, no sniffing, no
  referrer, nothing loaded from anywhere but this server.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "GuardMiddleware", "allowed_hosts"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
"""Added to every HTTP response the app sends."""

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` header values accepted for a server on ``port``: the loopback names
    (and any ``extra`` host names), each with the port."""
    names = set(_LOOPBACK_NAMES)
    for name in extra:
        names.add(f"[{name}]" if ":" in name and not name.startswith("[") else name)
    return frozenset(f"{name}:{port}".lower() for name in names)


class GuardMiddleware:
    """Pure ASGI middleware enforcing the rules in the module docstring.

    ``stream_paths`` are the paths whose requests get the Origin check (the event
    stream); every WebSocket request gets it too. ``extra_hosts`` adds host names to the
    loopback ones (for a server bound to another local address).
    """

    def __init__(
        self, app: ASGIApp, *, stream_paths: Iterable[str], extra_hosts: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.stream_paths = frozenset(stream_paths)
        self.extra_hosts = tuple(extra_hosts)
        self._hosts_by_port: dict[int, frozenset[str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        hosts = self._hosts(scope)
        host = headers.get("host", "").lower()
        if hosts and host not in hosts:
            await _refuse(scope, receive, send, 403, "unexpected Host header")
            return
        if kind == "websocket" or scope.get("path") in self.stream_paths:
            reason = _foreign(headers, hosts)
            if reason is not None:
                await _refuse(scope, receive, send, 403, reason)
                return
        if kind == "http":

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = dict(message)
                    message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
                await send(message)

            await self.app(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send)

    def _hosts(self, scope: Scope) -> frozenset[str]:
        server = scope.get("server")
        if not server or server[1] is None:  # a unix socket or an in-memory test client
            return frozenset()
        port = int(server[1])
        hosts = self._hosts_by_port.get(port)
        if hosts is None:
            hosts = allowed_hosts(port, self.extra_hosts)
            self._hosts_by_port[port] = hosts
        return hosts


def _headers(scope: Scope) -> dict[str, str]:
    # Repeated headers keep the last value: only host, origin and sec-fetch-site are read,
    # and a request that repeats them is refused below unless every value is acceptable.
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in out and out[name] != value:
            out[name] = "\x00conflict"
        else:
            out[name] = value
    return out


def _foreign(headers: dict[str, str], hosts: frozenset[str]) -> str | None:
    """Why the request comes from another site, or None when it does not."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site[:40]})"
    origin = headers.get("origin")
    if origin is None:
        return None
    origin = origin.lower()
    for scheme in ("http://", "https://"):
        if origin.startswith(scheme) and origin[len(scheme) :] in hosts:
            return None
    return "foreign Origin refused"


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    if scope["type"] == "websocket":
        # Closing before accept makes the server answer the upgrade with 403.
        await receive()  # the websocket.connect message
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        return
    body = f"{status} {reason}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
