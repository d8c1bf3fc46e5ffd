"""Checking what a Neuron is asked to do, before anything goes on the wire.

Input is ``{"prompt": str}`` or ``{"messages": [{"role": ..., "content": ...}, ...]}``, with
optional per-call ``max_new_tokens``, ``temperature``, ``stop`` and ``system`` that override
the Neuron's defaults for that call. Other keys are ignored, so a caller may carry its own
bookkeeping in the input.

The validators raise ``TypeError``/``ValueError``: the Neuron's constructor lets them through
(a wrong option is a programming error), while :func:`parse_input` turns them into a
``BAD_INPUT`` :class:`cosmonapse.NeuronError` (bad input is the caller's, not recoverable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._failures import bad_input

__all__ = [
    "Request",
    "Settings",
    "check_positive_int",
    "check_stop",
    "check_system",
    "check_temperature",
    "parse_input",
    "transcript",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """Generation settings, after defaults and per-call overrides are merged."""

    max_new_tokens: int
    temperature: float | None
    stop: tuple[str, ...]
    system: str | None


@dataclass(frozen=True, slots=True)
class Request:
    """One checked call: the conversation (system prompt applied) and its settings.

    ``prompt`` is the caller's raw prompt when the input was ``{"prompt": ...}``, so the
    generate API can send it verbatim; it is ``None`` for ``{"messages": ...}`` input.
    """

    messages: list[dict[str, Any]]
    prompt: str | None
    settings: Settings


def check_positive_int(value: object, name: str) -> int:
    """``value`` as a positive ``int``; raises TypeError or ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


def check_temperature(value: object) -> float | None:
    """``value`` as a finite float >= 0, or ``None``; raises TypeError or ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"temperature must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"temperature must be a finite number >= 0, not {value}")
    return float(value)


def check_stop(value: object) -> tuple[str, ...]:
    """``value`` (``None``, a string, or a list of strings) as a tuple of non-empty strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(s, str) for s in value):
        raise TypeError("stop must be a string or a list of strings")
    if any(not s for s in value):
        raise ValueError("stop sequences must not be empty strings")
    return tuple(value)


def check_system(value: object) -> str | None:
    """``value`` as a system prompt string, or ``None``."""
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"system must be a string, not {type(value).__name__}")


def _check_messages(value: object) -> list[dict[str, Any]]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError("'messages' must be a list of {'role': ..., 'content': ...} objects")
    if not value:
        raise ValueError("'messages' is empty")
    checked: list[dict[str, Any]] = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise TypeError(f"messages[{i}] must be an object, not {type(message).__name__}")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise ValueError(f"messages[{i}] needs a non-empty string 'role'")
        content = message.get("content")
        if content is None and "tool_calls" in message:
            pass  # an assistant turn that only called tools has no content
        elif isinstance(content, str):
            pass
        elif isinstance(content, list) and all(isinstance(p, Mapping) for p in content):
            # Content parts ({"type": "text", "text": ...}, images...): text must be text.
            for j, part in enumerate(content):
                if part.get("type", "text") == "text" and not isinstance(part.get("text"), str):
                    raise TypeError(f"messages[{i}]['content'][{j}]['text'] must be a string")
        else:
            raise TypeError(f"messages[{i}]['content'] must be a string or a list of parts")
        checked.append(dict(message))
    return checked


def parse_input(raw: object, defaults: Settings) -> Request:
    """Check one call's input and merge its overrides into ``defaults``.

    Raises a ``BAD_INPUT`` :class:`cosmonapse.NeuronError` (not recoverable) that names the
    offending field.
    """
    if not isinstance(raw, Mapping):
        raise bad_input(f"input must be an object, not {type(raw).__name__}")
    try:
        return _parse(raw, defaults)
    except (TypeError, ValueError) as exc:
        raise bad_input(f"invalid input: {exc}") from None


def _parse(raw: Mapping[str, Any], defaults: Settings) -> Request:
    has_prompt = raw.get("prompt") is not None
    has_messages = raw.get("messages") is not None
    if has_prompt == has_messages:
        raise ValueError(
            "give either 'prompt' (a string) or 'messages' (a list), not both"
            if has_prompt
            else "expected 'prompt' (a string) or 'messages' (a list)"
        )
    settings = Settings(
        max_new_tokens=check_positive_int(raw["max_new_tokens"], "max_new_tokens")
        if "max_new_tokens" in raw
        else defaults.max_new_tokens,
        temperature=check_temperature(raw["temperature"])
        if "temperature" in raw
        else defaults.temperature,
        stop=check_stop(raw["stop"]) if "stop" in raw else defaults.stop,
        system=check_system(raw["system"]) if "system" in raw else defaults.system,
    )
    prompt: str | None = None
    if has_prompt:
        prompt = raw["prompt"]
        if not isinstance(prompt, str):
            raise TypeError(f"'prompt' must be a string, not {type(prompt).__name__}")
        if not prompt.strip():
            raise ValueError("'prompt' is empty")
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    else:
        messages = _check_messages(raw["messages"])
    # The caller's own system message wins over the configured one.
    if settings.system and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": settings.system})
    return Request(messages=messages, prompt=prompt, settings=settings)


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
        )
    return ""


def transcript(request: Request) -> str:
    """The text the generate API receives.

    A plain prompt is sent as given (after the system prompt and a blank line, if any); a
    conversation becomes ``Role: content`` lines ending with ``Assistant:``. The chat API
    applies the model's own template instead, so prefer it for chat-tuned models.
    """
    system = request.settings.system
    if request.prompt is not None:
        return f"{system}\n\n{request.prompt}" if system else request.prompt
    lines = [
        f"{str(m['role']).capitalize()}: {_text_of(m.get('content'))}" for m in request.messages
    ]
    lines.append("Assistant:")
    return "\n".join(lines)
