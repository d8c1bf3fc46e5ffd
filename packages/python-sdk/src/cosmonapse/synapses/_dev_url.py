"""``cosmo://host:port?option=value`` URLs of the dev synapse.

The query may carry the client's options, so code that connects by URL alone
(``connect_synapse(os.environ["SYNAPSE_URL"])``) can still tune it:
``cosmo://127.0.0.1:7070?reconnect_attempts=5&request_timeout=2``. Keyword options given
to ``connect`` win over the URL's.

A server started with a token is reached with the token as the URL's password:
``cosmo://:TOKEN@host:port`` (a user name before the colon is ignored; percent-encode
``@``, ``:``, ``/`` and ``%`` in the token). It is returned as the ``token`` option.
:func:`redact` gives the URL with the token masked, for messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_URL", "display_url", "parse_url", "redact"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 7070
DEFAULT_URL: Final = f"cosmo://{DEFAULT_HOST}:{DEFAULT_PORT}"


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


_OPTIONS: Final[dict[str, Callable[[str], Any]]] = {
    "max_frame_bytes": int,
    "max_pending": int,
    "connect_timeout": float,
    "request_timeout": float,
    "reconnect": _bool,
    "reconnect_attempts": int,
    "reconnect_delay": float,
    "reconnect_max_delay": float,
}


def redact(url: str) -> str:
    """``url`` with everything between ``://`` and its last ``@`` replaced by ``:***``.

    For messages about a URL that may not parse, so it never raises and does not trust
    the URL to be well formed: a token with an unescaped ``/`` or ``?`` is masked too.
    """
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" in rest:
        rest = ":***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"


def display_url(host: str, port: int, *, token: bool = False) -> str:
    """``cosmo://host:port``, with ``:***@`` when a token is in use: safe to print."""
    display = f"[{host}]" if ":" in host else host
    return f"cosmo://{':***@' if token else ''}{display}:{port}"


def parse_url(url: str) -> tuple[str, int, dict[str, Any]]:
    """``(host, port, options)`` of a dev synapse URL (defaults 127.0.0.1 and 7070).

    ``options`` holds the query's options and, when the URL has a non-empty password,
    ``token`` (percent-decoded).

    Raises :class:`ValueError` for another scheme, a bad port, a path, a user name
    without a password (``cosmo://TOKEN@host``: the token goes after a colon), or an
    unknown or malformed option in the query. No message contains the token.
    """
    shown = redact(url)
    parts = urlsplit(url)
    if parts.scheme.lower() != "cosmo":
        raise ValueError(f"not a dev synapse URL: {shown!r} (expected cosmo://host:port)")
    try:
        port = parts.port
    except ValueError:
        hint = " (percent-encode / ? # @ in the token)" if "@" in url else ""
        raise ValueError(f"invalid port in {shown!r}{hint}") from None
    if parts.path not in ("", "/"):
        raise ValueError(f"a dev synapse URL has no path: {shown!r}")
    options: dict[str, Any] = {}
    if parts.password:
        options["token"] = unquote(parts.password)
    elif parts.username and parts.password is None:
        raise ValueError(f"{shown!r}: the token goes after a colon: cosmo://:TOKEN@host:port")
    for name, text in parse_qsl(parts.query, keep_blank_values=True):
        if name == "token":  # a query string ends up in logs and shell history
            raise ValueError(
                "give the token as the URL's password, cosmo://:TOKEN@host:port, or in "
                "COSMO_TOKEN; not in the query"
            )
        convert = _OPTIONS.get(name)
        if convert is None:
            known = ", ".join(_OPTIONS)
            raise ValueError(f"unknown option {name!r} in {shown!r} (known: {known})")
        try:
            options[name] = convert(text)
        except ValueError as exc:
            raise ValueError(f"option {name!r} in {shown!r}: {exc}") from None
    return parts.hostname or DEFAULT_HOST, DEFAULT_PORT if port is None else port, options
