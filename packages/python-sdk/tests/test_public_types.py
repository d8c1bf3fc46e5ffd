"""The public API's types, as mypy --strict sees them (typing_samples/public_types.py):
``NeuronFn`` is a Protocol plain async Neurons satisfy, with or without the helper
keywords; the reply decorators return the handler with its own type; the Neuron-side
helpers return ``ImprintResult`` / ``Hit``; ``RegistryStore`` is a Protocol
``MemoryRegistryStore`` implements. Runtime checks of the same promises follow."""

from __future__ import annotations

from pathlib import Path

from cosmonapse import Dendrite, MemoryRegistryStore, MemorySynapse, NeuronFn, Signal
from cosmonapse.registry import RegistryStore

SAMPLE = Path(__file__).parent / "typing_samples" / "public_types.py"


def test_the_typing_sample_passes_mypy_strict(tmp_path: Path) -> None:
    from mypy import api  # a test dependency (noxfile TEST_DEPS)

    out, err, status = api.run(
        ["--strict", "--python-version", "3.11", "--cache-dir", str(tmp_path), str(SAMPLE)]
    )
    assert status == 0, out + err
    assert "Success" in out


async def test_the_decorators_return_the_handler_unchanged() -> None:
    d = Dendrite(synapse=MemorySynapse(), namespace="types", heartbeat_s=0)

    async def handler(signal: Signal) -> None:
        return None

    assert d.on_final(handler) is handler
    assert d.on_final(neuron="poet")(handler) is handler
    assert d.on_agent_output(handler) is handler
    assert d.on_agent_output(capability="x")(handler) is handler
    assert d.on_error_signal(handler) is handler
    assert d.on_error_signal(trace_id="t")(handler) is handler
    assert d.on_signal("TASK", neuron="poet")(handler) is handler


def test_registry_store_is_a_runtime_checkable_protocol() -> None:
    class Elsewhere:
        def observe(self, signal: Signal) -> None:
            return None

    assert isinstance(MemoryRegistryStore(), RegistryStore)
    assert isinstance(Elsewhere(), RegistryStore)
    assert not isinstance(object(), RegistryStore)


def test_neuron_fn_is_a_protocol() -> None:
    assert getattr(NeuronFn, "_is_protocol", False)
    assert NeuronFn.__module__ == "cosmonapse"
