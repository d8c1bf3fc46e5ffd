"""The pooled HTTP client: lazy creation, sharing, closing, and where the token comes from."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from cosmonapse_neuron_hf import HuggingFaceNeuron
from cosmonapse_neuron_hf.standin import StandInServer

Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


async def test_no_connection_before_the_first_call(standin: StandInServer) -> None:
    neuron = HuggingFaceNeuron(endpoint=standin.url)
    await asyncio.sleep(0)
    assert standin.stats["connections"] == 0
    await neuron.aclose()  # closing a never-used Neuron is fine


async def test_sequential_calls_reuse_one_connection(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url, use_chat_api=True) as neuron:
        for _ in range(10):
            await neuron({"prompt": "the sea"}, None)
    assert standin.stats["requests"] == 10
    # keep-alive: one connection, unless the machine stalled past the pool's idle expiry
    assert standin.stats["connections"] < 10


async def test_concurrent_calls_share_one_bounded_pool() -> None:
    # Each answer is held back briefly so that the calls really overlap at the server.
    async with StandInServer(slow_s=0.2) as server:
        neuron = HuggingFaceNeuron(endpoint=server.fault_url("slow"), max_connections=3)
        outs = await asyncio.wait_for(
            asyncio.gather(*(neuron({"prompt": f"the moon {i}"}, None) for i in range(12))),
            30,
        )
        await neuron.aclose()
        stats = server.stats
    assert len(outs) == 12 and all(out["response"] for out in outs)
    assert stats["requests"] == 12
    # Twelve calls through one pool of three: never more than three sockets.
    assert stats["peak_open"] <= 3
    assert stats["connections"] <= 3


async def test_aclose_closes_the_connections(
    standin: StandInServer, eventually: Eventually
) -> None:
    neuron = HuggingFaceNeuron(endpoint=standin.url)
    await neuron({"prompt": "the wind"}, None)
    assert standin.stats["open"] == 1  # kept alive for the next call
    await neuron.aclose()
    await eventually(lambda: standin.stats["open"] == 0)
    await neuron.aclose()  # idempotent
    # A later call (a restarted Dendrite) opens a new client.
    out = await neuron({"prompt": "the wind"}, None)
    assert out["response"]
    assert standin.stats["connections"] == 2
    async with neuron:
        pass
    await eventually(lambda: standin.stats["open"] == 0)


async def test_no_key_sends_no_authorization(standin: StandInServer) -> None:
    async with HuggingFaceNeuron(endpoint=standin.url) as neuron:
        assert not neuron.has_token
        await neuron({"prompt": "the sun"}, None)
    assert standin.requests[-1].has_authorization is False


async def test_hf_token_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    async with StandInServer(token="hf_from_env") as server:
        async with HuggingFaceNeuron(endpoint=server.url, use_chat_api=True) as neuron:
            assert neuron.has_token
            out = await neuron({"prompt": "the sun"}, None)
        assert out["response"]
        assert "hf_from_env" not in repr(neuron)
        assert "token=set" in repr(neuron)


async def test_explicit_key_wins_over_hf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    async with (
        StandInServer(token="hf_explicit") as server,
        HuggingFaceNeuron(endpoint=server.url, api_key="hf_explicit") as neuron,
    ):
        out = await neuron({"prompt": "the sun"}, None)
    assert out["response"]


async def test_empty_hf_token_means_no_token(
    standin: StandInServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "")
    async with HuggingFaceNeuron(endpoint=standin.url) as neuron:
        assert not neuron.has_token
        await neuron({"prompt": "the sun"}, None)
    assert standin.requests[-1].has_authorization is False


async def test_credentials_in_the_endpoint_are_not_shown() -> None:
    neuron = HuggingFaceNeuron(endpoint="https://user:pa55@example.org/base?sig=abc")
    assert neuron.url == "https://example.org/base/generate"
    assert "pa55" not in repr(neuron) and "sig=abc" not in repr(neuron)
