"""Input and option checking: bad input is refused before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from cosmonapse import NeuronError
from cosmonapse_neuron_hf import HuggingFaceNeuron
from cosmonapse_neuron_hf.standin import StandInServer

BAD_INPUTS: list[tuple[Any, str]] = [
    ("the sun", "input must be an object"),
    ({}, "expected 'prompt'"),
    ({"prompt": None, "messages": None}, "expected 'prompt'"),
    ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "not both"),
    ({"prompt": 42}, "'prompt' must be a string"),
    ({"prompt": "   "}, "'prompt' is empty"),
    ({"messages": "hi"}, "'messages' must be a list"),
    ({"messages": []}, "'messages' is empty"),
    ({"messages": ["hi"]}, "messages[0] must be an object"),
    ({"messages": [{"content": "hi"}]}, "messages[0] needs a non-empty string 'role'"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0]['content']"),
    ({"messages": [{"role": "user"}]}, "messages[0]['content']"),
    ({"prompt": "a", "max_new_tokens": 0}, "max_new_tokens must be at least 1"),
    ({"prompt": "a", "max_new_tokens": "9"}, "max_new_tokens must be an int"),
    ({"prompt": "a", "max_new_tokens": True}, "max_new_tokens must be an int"),
    ({"prompt": "a", "temperature": -1}, "temperature must be a finite number"),
    ({"prompt": "a", "temperature": float("nan")}, "temperature must be a finite number"),
    ({"prompt": "a", "temperature": "hot"}, "temperature must be a number"),
    ({"prompt": "a", "stop": [1]}, "stop must be a string or a list"),
    ({"prompt": "a", "stop": [""]}, "stop sequences must not be empty"),
    ({"prompt": "a", "system": 5}, "system must be a string"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]},
        "messages[0]['content'][0]['text'] must be a string",
    ),
]


@pytest.mark.parametrize("use_chat_api", [True, False])
@pytest.mark.parametrize(("raw", "expected"), BAD_INPUTS)
async def test_bad_input_is_refused_without_a_request(
    standin: StandInServer, use_chat_api: bool, raw: Any, expected: str
) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url, use_chat_api=use_chat_api) as neuron:
        with pytest.raises(NeuronError) as caught:
            await neuron(raw, None)
    assert caught.value.code == "BAD_INPUT"
    assert caught.value.recoverable is False
    assert caught.value.retry_after_s is None
    assert expected in str(caught.value)
    assert standin.requests == []


async def test_input_that_is_not_json_is_refused(standin: StandInServer) -> None:
    part = {"type": "image_url", "image_url": object()}  # passed through to the chat API
    raw = {"messages": [{"role": "user", "content": [part]}]}
    async with HuggingFaceNeuron(endpoint=standin.url, use_chat_api=True) as neuron:
        with pytest.raises(NeuronError, match="cannot be sent as JSON") as caught:
            await neuron(raw, None)
    assert (caught.value.code, caught.value.recoverable) == ("BAD_INPUT", False)
    assert standin.requests == []


async def test_unknown_keys_and_context_are_ignored(standin: StandInServer) -> None:
    class Context:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the neuron read context.{name}")

    async with HuggingFaceNeuron(endpoint=standin.url) as neuron:
        out = await neuron({"prompt": "the sun", "trace_note": {"x": 1}}, Context())
    assert out["response"]


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"endpoint": "router.huggingface.co"}, ValueError, "http:// or https://"),
        ({"endpoint": "ftp://example.org"}, ValueError, "http:// or https://"),
        ({"endpoint": 42}, TypeError, "endpoint must be a string"),
        ({"endpoint": "http://x", "model": ""}, TypeError, "model"),
        ({"endpoint": "http://x", "api_key": 5}, TypeError, "api_key"),
        ({"endpoint": "http://x", "max_new_tokens": 0}, ValueError, "max_new_tokens"),
        ({"endpoint": "http://x", "temperature": -0.1}, ValueError, "temperature"),
        ({"endpoint": "http://x", "stop": 3}, TypeError, "stop"),
        ({"endpoint": "http://x", "system": ["a"]}, TypeError, "system"),
        ({"endpoint": "http://x", "timeout_s": 0}, ValueError, "timeout_s"),
        ({"endpoint": "http://x", "timeout_s": "5"}, TypeError, "timeout_s"),
        ({"endpoint": "http://x", "max_connections": 0}, ValueError, "max_connections"),
        ({"endpoint": "http://x", "max_response_bytes": -1}, ValueError, "max_response_bytes"),
    ],
)
def test_invalid_options_fail_at_construction(
    options: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        HuggingFaceNeuron(**options)
