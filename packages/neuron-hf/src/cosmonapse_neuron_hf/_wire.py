"""The two request/response shapes: OpenAI-style chat and TGI's ``/generate``.

Both answers become the same Neuron output::

    {"response": "<text>", "meta": {"model": ..., "finish_reason": ..., "usage": {...}}}

``usage`` is present only when the server reports it; ``finish_reason`` is the server's own
word (``"stop"``/``"length"`` for chat, ``"eos_token"``/``"length"``/``"stop_sequence"`` for
TGI) or ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._failures import bad_response
from ._input import Request, transcript

__all__ = ["DEFAULT_CHAT_MODEL", "chat_body", "generate_body", "parse_chat", "parse_generate"]

DEFAULT_CHAT_MODEL = "tgi"
"""Sent as ``model`` when none is configured: TGI accepts any name and documents this one.
The HF router and vLLM need the real model id."""


def chat_body(model: str | None, request: Request) -> dict[str, Any]:
    """The JSON body for ``POST {endpoint}/v1/chat/completions``."""
    settings = request.settings
    body: dict[str, Any] = {
        "model": model or DEFAULT_CHAT_MODEL,
        "messages": request.messages,
        "max_tokens": settings.max_new_tokens,
        "stream": False,
    }
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.stop:
        body["stop"] = list(settings.stop)
    return body


def generate_body(request: Request) -> dict[str, Any]:
    """The JSON body for TGI's ``POST {endpoint}/generate``.

    ``details`` is requested so the answer carries a finish reason and a token count. A
    temperature of 0 is left out: TGI rejects it, and greedy decoding is its default.
    """
    settings = request.settings
    parameters: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "return_full_text": False,
        "details": True,
    }
    if settings.temperature:
        parameters["temperature"] = settings.temperature
    if settings.stop:
        parameters["stop"] = list(settings.stop)
    return {"inputs": transcript(request), "parameters": parameters}


def _shape_error(target: str, what: str) -> Exception:
    return bad_response(f"{target} answered HTTP 200 but {what}")


def parse_chat(data: object, *, model: str | None, target: str) -> dict[str, Any]:
    """The Neuron output for a chat completion body; raises ``BAD_RESPONSE`` if malformed."""
    if not isinstance(data, Mapping):
        raise _shape_error(target, "the body is not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise _shape_error(target, "the body has no 'choices'")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise _shape_error(target, "choices[0] has no 'message'")
    content = message.get("content")
    if content is None:
        content = ""  # a turn that only calls tools
    if not isinstance(content, str):
        raise _shape_error(target, "choices[0].message.content is not a string")
    finish = choice.get("finish_reason")
    served_model = data.get("model")
    meta: dict[str, Any] = {
        "model": served_model if isinstance(served_model, str) and served_model else model,
        "finish_reason": finish if isinstance(finish, str) else None,
    }
    usage = data.get("usage")
    if isinstance(usage, Mapping):
        meta["usage"] = dict(usage)
    return {"response": content, "meta": meta}


def parse_generate(data: object, *, model: str | None, target: str) -> dict[str, Any]:
    """The Neuron output for a ``/generate`` body; raises ``BAD_RESPONSE`` if malformed.

    Also accepts the serverless Inference API's one-element list form.
    """
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, Mapping):
        raise _shape_error(target, "the body is not a JSON object")
    text = data.get("generated_text")
    if not isinstance(text, str):
        raise _shape_error(target, "the body has no 'generated_text' string")
    meta: dict[str, Any] = {"model": model, "finish_reason": None}
    details = data.get("details")
    if isinstance(details, Mapping):
        finish = details.get("finish_reason")
        if isinstance(finish, str):
            meta["finish_reason"] = finish
        tokens = details.get("generated_tokens")
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            meta["usage"] = {"completion_tokens": tokens}
    return {"response": text, "meta": meta}
