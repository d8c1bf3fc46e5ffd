"""TGI's ``/generate`` (the default API) against the stand-in, over loopback HTTP."""

from __future__ import annotations

import pytest
from cosmonapse_neuron_hf import HuggingFaceNeuron
from cosmonapse_neuron_hf.standin import StandInServer


async def test_prompt_is_sent_verbatim(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url, model="my/model") as neuron:
        out = await neuron({"prompt": "the sea"}, None)
    assert "sea" in out["response"] and "\n" not in out["response"]
    words = len(out["response"].split())
    assert out["meta"] == {
        "model": "my/model",
        "finish_reason": "eos_token",
        "usage": {"completion_tokens": words},
    }
    [sent] = standin.requests
    assert sent.path == "/generate"
    assert sent.body == {
        "inputs": "the sea",
        "parameters": {"max_new_tokens": 512, "return_full_text": False, "details": True},
    }


async def test_system_prompt_goes_before_the_prompt(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url, system="You write haiku.") as neuron:
        await neuron({"prompt": "the wind"}, None)
    assert standin.requests[-1].body["inputs"] == "You write haiku.\n\nthe wind"


async def test_messages_become_a_transcript(standin: StandInServer) -> None:
    messages = [
        {"role": "user", "content": "the sun"},
        {"role": "assistant", "content": "Bright."},
        {"role": "user", "content": "now the moon"},
    ]
    async with HuggingFaceNeuron(endpoint=standin.url, system="Be kind.") as neuron:
        out = await neuron({"messages": messages}, None)
    assert standin.requests[-1].body["inputs"] == (
        "System: Be kind.\nUser: the sun\nAssistant: Bright.\nUser: now the moon\nAssistant:"
    )
    assert "silver" in out["response"]  # the latest question's topic


async def test_settings_map_to_tgi_parameters(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(
        endpoint=standin.url, max_new_tokens=5, temperature=0.5, stop=["zzz"]
    ) as neuron:
        out = await neuron({"prompt": "the moon"}, None)
        # TGI refuses temperature 0; greedy is its default, so 0 is left out.
        greedy = await neuron({"prompt": "the moon", "temperature": 0}, None)
    first, second = (r.body["parameters"] for r in standin.requests)
    assert first == {
        "max_new_tokens": 5,
        "return_full_text": False,
        "details": True,
        "temperature": 0.5,
        "stop": ["zzz"],
    }
    assert "temperature" not in second
    assert out["meta"]["finish_reason"] == "length"
    assert len(out["response"].split()) == 5
    assert greedy["response"] == out["response"]


async def test_stop_sequence_ends_the_answer(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url, stop="silver") as neuron:
        out = await neuron({"prompt": "the moon"}, None)
    assert out["response"] == "A quiet "
    assert out["meta"]["finish_reason"] == "stop_sequence"


@pytest.mark.parametrize("suffix", ["", "/", "/generate"])
async def test_endpoint_forms_reach_generate(standin: StandInServer, suffix: str) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url + suffix) as neuron:
        assert neuron.url == standin.url + "/generate"
        await neuron({"prompt": "the sea"}, None)
    assert standin.requests[-1].path == "/generate"
