"""The Neuron as the core finds and hosts it: ``Neuron(source=...)``, Axon, Dendrite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    MemorySynapse,
    Neuron,
    SignalType,
)
from cosmonapse_neuron_hf import HuggingFaceNeuron
from cosmonapse_neuron_hf.standin import StandInServer

Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


@pytest.mark.parametrize("source", ["huggingface", "hf"])
async def test_neuron_source_resolves_to_the_factory(standin: StandInServer, source: str) -> None:
    neuron = Neuron(
        source=source,
        endpoint=standin.url,
        model="meta-llama/Llama-3.1-8B-Instruct",
        use_chat_api=True,
        max_new_tokens=128,
    )
    assert isinstance(neuron, HuggingFaceNeuron)
    assert neuron.use_chat_api and neuron.model == "meta-llama/Llama-3.1-8B-Instruct"
    out = await neuron({"prompt": "the moon"}, None)
    assert out["response"]
    await neuron.aclose()


async def test_hosted_by_a_dendrite_answers_fails_and_is_closed(eventually: Eventually) -> None:
    """The seed's worker setup, with the endpoint on loopback and a test token."""
    async with StandInServer(token="hf_test_token") as server:
        options = {
            "endpoint": server.url,
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "api_key": "hf_test_token",
            "use_chat_api": True,
            "max_new_tokens": 128,
        }
        poet = Neuron(source="huggingface", **options)
        limited = Neuron(source="hf", **{**options, "endpoint": server.fault_url("429")})
        synapse = MemorySynapse()
        worker = Dendrite(
            synapse=synapse,
            namespace="quickstart",
            dendrite_id="worker-a",
            role="worker",
            heartbeat_s=0,
        )
        worker.attach_axon(Axon(neuron_id="poet", neuron_fn=poet, capabilities=["chat"]))
        worker.attach_axon(Axon(neuron_id="limited", neuron_fn=limited))
        producer = Dendrite(
            synapse=synapse, namespace="quickstart", dendrite_id="producer", heartbeat_s=0
        )
        async with worker, producer:
            answer = await producer.dispatch_and_wait(
                neuron="poet", input={"prompt": "the sun"}, timeout_s=10
            )
            refused = await producer.dispatch_and_wait(
                neuron="limited", input={"prompt": "the sun"}, timeout_s=10
            )
            assert server.stats["open"] == 2  # each Neuron keeps its connection alive
        await synapse.close()

        assert answer.type is SignalType.AGENT_OUTPUT
        output = answer.payload["output"]
        assert output["response"].startswith("Morning gold")
        assert output["meta"]["usage"]["completion_tokens"] > 0

        assert refused.type is SignalType.ERROR
        assert refused.payload["code"] == "RATE_LIMITED"
        assert refused.payload["recoverable"] is True
        assert refused.meta["retry_after_s"] == 3.0
        assert "hf_test_token" not in refused.encode().decode()

        # Stopping the worker closed both Neurons' clients.
        await eventually(lambda: server.stats["open"] == 0)
