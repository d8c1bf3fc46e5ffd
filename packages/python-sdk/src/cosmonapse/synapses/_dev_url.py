"""``cosmo://host:port?option=value`` URLs of the dev synapse.

The query may carry the client's options, so code that connects by URL alone
(``connect_synapse(os.environ["SYNAPSE_URL"])``) can still tune it:
``cosmo://127.0.0.1:7070?reconnect_attempts=5&request_timeout=2``. Keyword options given
to ``connect`` win over the URL's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_URL", "parse_url"]

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


def parse_url(url: str) -> tuple[str, int, dict[str, Any]]:
    """``(host, port, options)`` of a dev synapse URL (defaults 127.0.0.1 and 7070).

    Raises :class:`ValueError` for another scheme, a bad port, a path, or an unknown or
    malformed option in the query.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "cosmo":
        raise ValueError(f"not a dev synapse URL: {url!r} (expected cosmo://host:port)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in {url!r}") from None
    if parts.path not in ("", "/"):
        raise ValueError(f"a dev synapse URL has no path: {url!r}")
    options: dict[str, Any] = {}
    for name, text in parse_qsl(parts.query, keep_blank_values=True):
        convert = _OPTIONS.get(name)
        if convert is None:
            known = ", ".join(_OPTIONS)
            raise ValueError(f"unknown option {name!r} in {url!r} (known: {known})")
        try:
            options[name] = convert(text)
        except ValueError as exc:
            raise ValueError(f"option {name!r} in {url!r}: {exc}") from None
    return parts.hostname or DEFAULT_HOST, DEFAULT_PORT if port is None else port, options
