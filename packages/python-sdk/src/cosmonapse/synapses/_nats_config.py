"""Turn a ``nats://`` URL and keyword options into one validated configuration.

The URL may list several servers separated by commas (``nats://a:4222,nats://b:4222``;
the scheme may be left off after the first, ``nats://a:4222,b:4222``). Credentials may
ride in the URL: ``nats://user:pass@host`` for a user and password, ``nats://token@host``
for a token. They are taken out of the server list here, so nothing downstream (nats-py's
server pool, log lines, error messages, the Synapse's ``url``) ever holds them.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from .base import DEFAULT_MAX_PENDING

__all__ = ["DEFAULT_URL", "NatsConfig", "parse_config", "redact"]

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_PORT = 4222
_SCHEMES = ("nats", "tls")


@dataclass(frozen=True, slots=True)
class NatsConfig:
    """Everything :class:`~cosmonapse.synapses.nats.NatsSynapse` needs to connect.

    ``servers`` hold ``scheme://host:port`` with no credentials; ``url`` is the same
    list joined by commas, safe to print.
    """

    servers: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None
    name: str = "cosmonapse"
    connect_timeout: float = 2.0
    reconnect: bool = True
    reconnect_time_wait: float = 1.0
    max_reconnect_attempts: int = -1
    ping_interval: float = 20.0
    max_outstanding_pings: int = 3
    max_pending: int = DEFAULT_MAX_PENDING
    max_pending_bytes: int = 64 * 1024 * 1024
    outbound_buffer_bytes: int = 8 * 1024 * 1024
    drain_timeout: float = 5.0

    @property
    def url(self) -> str:
        return ",".join(self.servers)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.aio.client.Client.connect`` (callbacks excluded).

        Returned as a plain dict because nats-py annotates its timeouts as ``int`` while
        it accepts (and we pass) fractional seconds.
        """
        options: dict[str, Any] = {
            "servers": list(self.servers),
            "name": self.name,
            "connect_timeout": self.connect_timeout,
            "allow_reconnect": self.reconnect,
            "reconnect_time_wait": self.reconnect_time_wait,
            "max_reconnect_attempts": self.max_reconnect_attempts,
            "ping_interval": self.ping_interval,
            "max_outstanding_pings": self.max_outstanding_pings,
            "pending_size": self.outbound_buffer_bytes,
            "drain_timeout": self.drain_timeout,
            # Subjects and queue groups are validated by cosmonapse.subjects, which is
            # stricter than nats-py (it also refuses CR, LF and every control character).
            "skip_subject_validation": True,
        }
        if self.user is not None:
            options["user"] = self.user
            options["password"] = self.password or ""
        if self.token is not None:
            options["token"] = self.token
        if self.creds is not None:
            options["user_credentials"] = self.creds
        if self.tls is not None:
            options["tls"] = self.tls
        if self.tls_hostname is not None:
            options["tls_hostname"] = self.tls_hostname
        return options


_FLOAT_OPTIONS = ("connect_timeout", "reconnect_time_wait", "ping_interval", "drain_timeout")
_INT_OPTIONS = (
    "max_reconnect_attempts",
    "max_outstanding_pings",
    "max_pending",
    "max_pending_bytes",
    "outbound_buffer_bytes",
)
_STR_OPTIONS = ("user", "password", "token", "tls_hostname", "name")
OPTION_NAMES = frozenset(
    (*_FLOAT_OPTIONS, *_INT_OPTIONS, *_STR_OPTIONS, "creds", "tls", "reconnect")
)


def redact(url: str) -> str:
    """``url`` with any ``user:pass@`` or ``token@`` removed from every server in it.

    Used for messages about a URL that failed to parse, so it never raises.
    """
    parts = []
    for part in url.split(","):
        scheme, sep, rest = part.strip().rpartition("://")
        rest = rest.rpartition("@")[2]
        parts.append(f"{scheme}{sep}{rest}")
    return ",".join(parts)


def _server(part: str, *, original: str) -> tuple[str, str | None, str | None]:
    """``(scheme://host:port, username, password)`` for one comma-separated entry."""
    text = part.strip()
    if not text:
        raise ValueError(f"empty server entry in NATS URL {redact(original)!r}")
    if "://" not in text:
        text = f"nats://{text}"
    try:
        split = urlsplit(text)
        port = split.port
    except ValueError as exc:
        raise ValueError(f"invalid NATS URL {redact(original)!r}: {exc}") from None
    scheme = split.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(
            f"NATS URL {redact(original)!r} has scheme {scheme!r}; use nats:// (or tls:// "
            "to require TLS)"
        )
    if split.path not in ("", "/") or split.query or split.fragment:
        raise ValueError(
            f"NATS URL {redact(original)!r} must be scheme://[credentials@]host:port only"
        )
    host = split.hostname or "127.0.0.1"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    username = unquote(split.username) if split.username is not None else None
    password = unquote(split.password) if split.password is not None else None
    return f"{scheme}://{host}:{port or DEFAULT_PORT}", username, password


def _check(name: str, value: object) -> Any:
    if name in _FLOAT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"NATS option {name} must be a positive number of seconds")
        return float(value)
    if name in _INT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"NATS option {name} must be an integer")
        if name == "max_reconnect_attempts":
            if value < -1:
                raise ValueError("max_reconnect_attempts must be -1 (forever) or at least 0")
        elif value < 1:
            raise ValueError(f"NATS option {name} must be at least 1")
        return value
    if name in _STR_OPTIONS:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"NATS option {name} must be a string")
        return value
    if name == "creds":
        if value is None:
            return None
        if not isinstance(value, str | os.PathLike):
            raise ValueError("NATS option creds must be the path of a .creds file")
        return os.fspath(value)
    if name == "tls":
        if value is not None and not isinstance(value, ssl.SSLContext):
            raise ValueError("NATS option tls must be an ssl.SSLContext")
        return value
    if name == "reconnect":
        if not isinstance(value, bool):
            raise ValueError("NATS option reconnect must be True or False")
        return value
    raise AssertionError(name)  # pragma: no cover - guarded by OPTION_NAMES


def parse_config(url: str, options: dict[str, object]) -> NatsConfig:
    """Validate ``url`` and ``options`` together.

    Keyword credentials win over credentials in the URL. Raises :class:`TypeError` for an
    unknown option and :class:`ValueError` for a malformed URL or value; neither message
    contains a credential.
    """
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise TypeError(
            f"unknown NATS option(s) {', '.join(unknown)}; "
            f"expected some of: {', '.join(sorted(OPTION_NAMES))}"
        )
    if not isinstance(url, str):
        raise ValueError("the NATS URL must be a string")
    servers: list[str] = []
    auth: set[tuple[str | None, str | None]] = set()
    for part in url.split(","):
        server, username, password = _server(part, original=url)
        if server not in servers:
            servers.append(server)
        if username is not None or password is not None:
            auth.add((username, password))
    if len(auth) > 1:
        raise ValueError(
            f"NATS URL {redact(url)!r} carries different credentials for different servers; "
            "give them once, or as keyword options"
        )
    values: dict[str, Any] = {name: _check(name, value) for name, value in options.items()}
    if auth and not {"user", "password", "token", "creds"} & set(values):
        username, password = auth.pop()
        if password is not None:
            values["user"], values["password"] = username or "", password
        else:
            values["token"] = username
    if values.get("password") is not None and values.get("user") is None:
        raise ValueError("NATS option password needs a user")
    if values.get("token") is not None and values.get("user") is not None:
        raise ValueError("give NATS either a user and password or a token, not both")
    return NatsConfig(servers=tuple(servers), **values)
