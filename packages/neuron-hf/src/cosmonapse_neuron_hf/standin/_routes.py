"""What the stand-in answers: a pure function from one request to one reply.

Kept apart from the HTTP plumbing so the answers can be read (and changed) on their own.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._compose import compose, count_tokens

__all__ = [
    "CHAT_PATH",
    "FAULTS",
    "FAULT_HEADER",
    "FAULT_PREFIX",
    "GENERATE_PATH",
    "Incoming",
    "Reply",
    "respond",
]

CHAT_PATH: Final = "/v1/chat/completions"
GENERATE_PATH: Final = "/generate"
FAULT_PREFIX: Final = "/_fault/"
FAULT_HEADER: Final = "x-standin-fault"
STANDIN_MODEL: Final = "cosmonapse/standin"

RETRY_AFTER_S: Final = 3
"""The ``Retry-After`` (seconds) sent with the ``429`` and ``503`` faults."""

RETRY_AFTER_DATE_S: Final = 30
"""How far ahead the ``429-date`` fault's HTTP-date ``Retry-After`` points."""

HUGE_BYTES: Final = 1_100_000

FAULTS: Final[Mapping[str, str]] = {
    "<status>": "any status 400-599 with an error body; 429 and 503 add Retry-After: 3",
    "429-date": "429 with Retry-After as an HTTP date 30 s ahead",
    "slow": "a normal answer after the server's slow_s delay (default 60 s)",
    "drop": "close the connection without answering",
    "malformed": "200 with a body that is not JSON",
    "wrong-shape": "200 with JSON that lacks the API's fields",
    "huge": "200 with a valid body of about 1.1 MB",
}
"""Test-only faults, chosen per request by ``X-StandIn-Fault: <name>`` or by the path
prefix ``/_fault/<name>/`` (so a client's base URL can carry it)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One request: method, path (no query), headers with lower-case names, body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer. ``delay_s`` is waited before sending; ``drop`` closes without a reply."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    drop: bool = False


class _Invalid(ValueError):
    """A request the real server would refuse with HTTP 422."""


def _json(status: int, data: object, *headers: tuple[str, str]) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers)


def _error(path: str, status: int, message: str, *headers: tuple[str, str]) -> Reply:
    # Each API in its own dialect, so clients parse both shapes.
    if path == CHAT_PATH:
        body: dict[str, Any] = {"error": {"message": message, "type": f"http_{status}"}}
    else:
        body = {"error": message, "error_type": f"http_{status}"}
    return _json(status, body, *headers)


def respond(request: Incoming, *, token: str | None, slow_s: float) -> Reply:
    """The stand-in's reply to ``request``.

    With ``token`` set, anything but ``Authorization: Bearer <token>`` gets 401. Faults are
    applied after that check, so an authenticated client can ask for any of them.
    """
    path, fault = request.path, request.headers.get(FAULT_HEADER)
    if path.startswith(FAULT_PREFIX):
        name, _, rest = path[len(FAULT_PREFIX) :].partition("/")
        path, fault = "/" + rest, fault or name
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(path, 401, "Invalid credentials in Authorization header")
    if fault:
        return _fault(fault, path, request, slow_s=slow_s)
    return _route(path, request)


def _fault(name: str, path: str, request: Incoming, *, slow_s: float) -> Reply:
    if name == "slow":
        answer = _route(path, request)
        return Reply(answer.status, answer.body, answer.headers, delay_s=slow_s)
    if name == "drop":
        return Reply(0, drop=True)
    if name == "malformed":
        return Reply(200, b'{"choices": [{"message": {"content": "cut sho')
    if name == "wrong-shape":
        return _json(200, {"unexpected": True})
    if name == "huge":
        filler = "x" * HUGE_BYTES
        if path == CHAT_PATH:
            return _json(200, {"choices": [{"message": {"role": "assistant", "content": filler}}]})
        return _json(200, {"generated_text": filler})
    if name == "429-date":
        when = email.utils.formatdate(time.time() + RETRY_AFTER_DATE_S, usegmt=True)
        return _error(path, 429, "Rate limit reached, slow down", ("retry-after", when))
    if name.isdigit() and 400 <= int(name) <= 599:
        status = int(name)
        extra = (("retry-after", str(RETRY_AFTER_S)),) if status in (429, 503) else ()
        return _error(path, status, f"stand-in fault {status}", *extra)
    known = ", ".join(sorted(FAULTS))
    return _error(path, 400, f"unknown stand-in fault {name!r} (known: {known})")


def _route(path: str, request: Incoming) -> Reply:
    handlers = {CHAT_PATH: _chat, GENERATE_PATH: _generate}
    handler = handlers.get(path)
    if handler is not None:
        if request.method != "POST":
            return _error(path, 405, f"{path} takes POST", ("allow", "POST"))
        try:
            data = json.loads(request.body)
        except ValueError:
            return _error(path, 400, "the body is not JSON")
        if not isinstance(data, dict):
            return _error(path, 422, "the body must be a JSON object")
        try:
            return _json(200, handler(data))
        except _Invalid as exc:
            return _error(path, 422, str(exc))
    if path in ("/health", "/info"):
        if request.method != "GET":
            return _error(path, 405, f"{path} takes GET", ("allow", "GET"))
        if path == "/health":
            return _json(200, {"status": "ok"})
        return _json(200, {"model_id": STANDIN_MODEL, "router": "cosmonapse-standin"})
    return _error(path, 404, f"no route for {request.method} {path}")


def _positive_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid(f"`{name}` must be a positive integer")
    return value


def _stops(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise _Invalid("`stop` must be a string or a list of strings")


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def _chat(data: dict[str, Any]) -> dict[str, Any]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("`messages` must be a non-empty list")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise _Invalid("every message needs a string `role`")
    if data.get("stream"):
        raise _Invalid("the stand-in does not stream")
    temperature = data.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature < 0
    ):
        raise _Invalid("`temperature` must be a number >= 0")
    limit = _positive_int(data.get("max_tokens", data.get("max_completion_tokens")), "max_tokens")
    user_turns = [m for m in messages if m["role"] == "user"]
    asked = _text(user_turns[-1].get("content")) if user_turns else ""
    answer = compose(asked, max_tokens=limit, stop=_stops(data.get("stop")))
    prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in messages)
    model = data.get("model")
    return {
        "id": "chatcmpl-standin-" + hashlib.sha256(asked.encode()).hexdigest()[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model if isinstance(model, str) and model else STANDIN_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": "length" if answer.finish == "length" else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": answer.tokens,
            "total_tokens": prompt_tokens + answer.tokens,
        },
    }


def _generate(data: dict[str, Any]) -> dict[str, Any]:
    inputs = data.get("inputs")
    if not isinstance(inputs, str) or not inputs:
        raise _Invalid("`inputs` must be a non-empty string")
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _Invalid("`parameters` must be an object")
    temperature = parameters.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or temperature <= 0
    ):
        raise _Invalid("`temperature` must be strictly positive")
    limit = _positive_int(parameters.get("max_new_tokens"), "max_new_tokens")
    answer = compose(inputs, max_tokens=limit, stop=_stops(parameters.get("stop")))
    text = answer.text
    if parameters.get("return_full_text"):
        text = inputs + text
    reply: dict[str, Any] = {"generated_text": text}
    if parameters.get("details"):
        finish = {"stop": "eos_token"}.get(answer.finish, answer.finish)
        reply["details"] = {
            "finish_reason": finish,
            "generated_tokens": answer.tokens,
            "seed": None,
        }
    return reply
