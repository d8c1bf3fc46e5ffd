"""The chat API (``use_chat_api=True``) against the stand-in, over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cosmonapse_neuron_hf import HuggingFaceNeuron, create_neuron
from cosmonapse_neuron_hf.standin import StandInServer

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture
async def chat(standin: StandInServer) -> AsyncIterator[HuggingFaceNeuron]:
    neuron = create_neuron(endpoint=standin.url, model=MODEL, use_chat_api=True, max_new_tokens=128)
    yield neuron
    await neuron.aclose()


async def test_prompt_gets_a_response_with_meta(
    chat: HuggingFaceNeuron, standin: StandInServer
) -> None:
    out = await chat({"prompt": "the sun"}, None)
    assert set(out) == {"response", "meta"}
    assert "gold" in out["response"] and "\n" not in out["response"]
    meta = out["meta"]
    assert meta["model"] == MODEL
    assert meta["finish_reason"] == "stop"
    words = len(out["response"].split())
    assert meta["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": words,
        "total_tokens": 2 + words,
    }
    [sent] = standin.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "the sun"}],
        "max_tokens": 128,
        "stream": False,
    }


async def test_same_prompt_same_answer_and_the_seed_prompts_differ(
    chat: HuggingFaceNeuron,
) -> None:
    answers = [(await chat({"prompt": p}, None))["response"] for p in ("the sun", "the moon")]
    again = (await chat({"prompt": "the sun"}, None))["response"]
    assert again == answers[0]
    assert answers[0] != answers[1]


async def test_messages_are_sent_as_given(chat: HuggingFaceNeuron, standin: StandInServer) -> None:
    messages = [
        {"role": "user", "content": "the sea"},
        {"role": "assistant", "content": "It is wide."},
        {"role": "user", "content": "and the moon?"},
    ]
    out = await chat({"messages": messages}, None)
    assert "silver" in out["response"]  # answers the last user turn
    assert standin.requests[-1].body["messages"] == messages
    assert out["meta"]["usage"]["prompt_tokens"] == 2 + 3 + 3


async def test_system_prompt_is_prepended(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(
        endpoint=standin.url, model=MODEL, use_chat_api=True, system="Answer in one line."
    ) as neuron:
        await neuron({"prompt": "the wind"}, None)
        await neuron({"messages": [{"role": "user", "content": "the wind"}]}, None)
        own = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "rain"}]
        await neuron({"messages": own}, None)
        await neuron({"prompt": "the wind", "system": "Per call."}, None)
    sent = [r.body["messages"] for r in standin.requests]
    system = {"role": "system", "content": "Answer in one line."}
    assert sent[0] == [system, {"role": "user", "content": "the wind"}]
    assert sent[1] == [system, {"role": "user", "content": "the wind"}]
    assert sent[2] == own  # the caller's own system message wins
    assert sent[3][0] == {"role": "system", "content": "Per call."}


async def test_options_and_per_call_overrides_reach_the_server(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(
        endpoint=standin.url,
        model=MODEL,
        use_chat_api=True,
        max_new_tokens=64,
        temperature=0.7,
        stop="END",
    ) as neuron:
        await neuron({"prompt": "the sun"}, None)
        out = await neuron(
            {"prompt": "the sun", "max_new_tokens": 3, "temperature": 0, "stop": ["qq", "zz"]},
            None,
        )
    first, second = (r.body for r in standin.requests)
    assert (first["max_tokens"], first["temperature"], first["stop"]) == (64, 0.7, ["END"])
    assert (second["max_tokens"], second["temperature"], second["stop"]) == (3, 0.0, ["qq", "zz"])
    assert out["meta"]["finish_reason"] == "length"


async def test_max_new_tokens_cuts_the_answer(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(
        endpoint=standin.url, use_chat_api=True, max_new_tokens=4
    ) as neuron:
        out = await neuron({"prompt": "the moon"}, None)
    assert len(out["response"].split()) == 4
    assert out["meta"]["finish_reason"] == "length"
    assert out["meta"]["usage"]["completion_tokens"] == 4


async def test_without_a_model_the_tgi_placeholder_is_sent(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url, use_chat_api=True) as neuron:
        out = await neuron({"prompt": "the sea"}, None)
    assert standin.requests[-1].body["model"] == "tgi"
    assert out["meta"]["model"] == "tgi"  # what the server says it served


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions"])
async def test_endpoint_forms_reach_the_chat_path(standin: StandInServer, suffix: str) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url + suffix, use_chat_api=True) as neuron:
        assert neuron.url == standin.url + "/v1/chat/completions"
        await neuron({"prompt": "the sea"}, None)
    assert standin.requests[-1].path == "/v1/chat/completions"


async def test_a_null_content_tool_turn_is_accepted(standin: StandInServer) -> None:
    messages = [
        {"role": "user", "content": "the sun"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "user", "content": [{"type": "text", "text": "the sun"}]},
    ]
    async with HuggingFaceNeuron(endpoint=standin.url, use_chat_api=True) as neuron:
        out = await neuron({"messages": messages}, None)
    assert "gold" in out["response"]
