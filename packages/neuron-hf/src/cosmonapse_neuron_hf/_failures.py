"""How an HTTP failure becomes a :class:`cosmonapse.NeuronError`.

The Axon turns a raised ``NeuronError`` into an ERROR Signal and ``RetryStrategy`` retries
the recoverable ones, so the mapping here decides what gets retried:

``code``                  ``recoverable``  cause; ``retry_after_s``
``BAD_INPUT``             no               the Neuron input cannot be sent
``AUTH_REFUSED``          no               HTTP 401 or 403
``RATE_LIMITED``          yes              HTTP 429; from ``Retry-After``
``UPSTREAM_ERROR``        yes              HTTP 5xx; from ``Retry-After`` (on 503 also the
                                           body's ``estimated_time``)
``UPSTREAM_TIMEOUT``      yes              HTTP 408 or the client's own timeout
``UPSTREAM_UNREACHABLE``  yes              refused, reset or unresolvable connections
``UPSTREAM_REJECTED``     no               any other HTTP 4xx, with the server's reason
``BAD_RESPONSE``          no               a 2xx body that is not what the API promises,
                                           or a status outside 2xx/4xx/5xx

Every message names the endpoint (host and path, never credentials) and is scrubbed of the
token before it leaves this module, even if a server echoes it back.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime

from cosmonapse import NeuronError

__all__ = [
    "AUTH_REFUSED",
    "BAD_INPUT",
    "BAD_RESPONSE",
    "MAX_RETRY_AFTER_S",
    "RATE_LIMITED",
    "UPSTREAM_ERROR",
    "UPSTREAM_REJECTED",
    "UPSTREAM_TIMEOUT",
    "UPSTREAM_UNREACHABLE",
    "bad_input",
    "bad_response",
    "error_for_status",
    "parse_retry_after",
    "scrub",
    "server_detail",
]

BAD_INPUT = "BAD_INPUT"
AUTH_REFUSED = "AUTH_REFUSED"
RATE_LIMITED = "RATE_LIMITED"
UPSTREAM_ERROR = "UPSTREAM_ERROR"
UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
UPSTREAM_UNREACHABLE = "UPSTREAM_UNREACHABLE"
UPSTREAM_REJECTED = "UPSTREAM_REJECTED"
BAD_RESPONSE = "BAD_RESPONSE"

MAX_RETRY_AFTER_S = 3600.0
"""Retry-After hints are capped here, so a confused server cannot park a retry for days."""

_DETAIL_CHARS = 300
_REDACTED = "[redacted]"


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``[redacted]``."""
    if secret:
        return text.replace(secret, _REDACTED)
    return text


def bad_input(message: str) -> NeuronError:
    """The error for Neuron input that cannot be sent: never recoverable."""
    return NeuronError(message, code=BAD_INPUT, recoverable=False)


def bad_response(message: str, *, secret: str | None = None) -> NeuronError:
    """The error for a body that is not the JSON the API promises: never recoverable."""
    return NeuronError(scrub(message, secret), code=BAD_RESPONSE, recoverable=False)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value.

    Accepts delta-seconds (``"3"``, also ``"1.5"``) and an HTTP date. Returns ``None`` for a
    missing or unparseable value, ``0.0`` for a date in the past, and at most
    :data:`MAX_RETRY_AFTER_S`.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


def server_detail(body: bytes, *, limit: int = _DETAIL_CHARS) -> str:
    """The human part of an error body, on one line, at most ``limit`` characters.

    Understands TGI (``{"error": "..."}``), OpenAI-style (``{"error": {"message": ...}}``)
    and FastAPI (``{"detail": ...}``) bodies; anything else is shown as text.
    """
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except ValueError:
        pass
    else:
        if isinstance(data, Mapping):
            found = _message_in(data)
            if found is not None:
                text = found
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return text or "(empty body)"


def _message_in(data: Mapping[str, object]) -> str | None:
    for key in ("error", "message", "detail"):
        value = data.get(key)
        if isinstance(value, Mapping):
            inner = value.get("message")
            if isinstance(inner, str):
                return inner
        elif isinstance(value, str):
            return value
    return None


def _estimated_time(body: bytes) -> float | None:
    # The serverless Inference API answers 503 {"error": ..., "estimated_time": 20.0}
    # while a model loads; that is a better hint than nothing.
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, Mapping):
        value = data.get("estimated_time")
        if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
            return min(float(value), MAX_RETRY_AFTER_S)
    return None


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    target: str,
    secret: str | None,
) -> NeuronError:
    """The :class:`NeuronError` for a response with a non-2xx ``status``.

    ``headers`` must look names up case-insensitively (``httpx.Headers`` does); ``body`` is
    the start of the response body; ``target`` is the endpoint as shown to people;
    ``secret`` is the token that was sent, or ``None`` when the request had none.
    """
    detail = scrub(server_detail(body), secret)
    if status in (401, 403):
        if secret is None:
            message = (
                f"{target} requires a token (HTTP {status}) and none was sent: "
                f"pass api_key= or set HF_TOKEN ({detail})"
            )
        else:
            message = (
                f"{target} refused the token (HTTP {status}): check that api_key / HF_TOKEN "
                f"is valid and allowed to call this model ({detail})"
            )
        return NeuronError(message, code=AUTH_REFUSED, recoverable=False)
    if status == 429:
        return NeuronError(
            f"{target} is rate limiting requests (HTTP 429): {detail}",
            code=RATE_LIMITED,
            recoverable=True,
            retry_after_s=parse_retry_after(headers.get("retry-after")),
        )
    if 500 <= status <= 599:
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is None and status == 503:
            retry_after = _estimated_time(body)
        return NeuronError(
            f"{target} failed (HTTP {status}): {detail}",
            code=UPSTREAM_ERROR,
            recoverable=True,
            retry_after_s=retry_after,
        )
    if status == 408:
        return NeuronError(
            f"{target} timed out reading the request (HTTP 408): {detail}",
            code=UPSTREAM_TIMEOUT,
            recoverable=True,
            retry_after_s=parse_retry_after(headers.get("retry-after")),
        )
    if 400 <= status <= 499:
        return NeuronError(
            f"{target} rejected the request (HTTP {status}): {detail}",
            code=UPSTREAM_REJECTED,
            recoverable=False,
        )
    where = headers.get("location")
    suffix = f" to {scrub(where, secret)}" if where and 300 <= status <= 399 else ""
    return bad_response(f"{target} answered with unexpected HTTP {status}{suffix}")
