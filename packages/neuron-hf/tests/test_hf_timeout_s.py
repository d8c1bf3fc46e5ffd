"""``timeout_s`` (seconds) bounds one call; ``timeout=``, its old name, still works with a
CosmonapseDeprecationWarning that points at the user's line, also through
``cosmonapse.Neuron(source="huggingface", ...)``."""

from __future__ import annotations

import pytest
from cosmonapse import CosmonapseDeprecationWarning, Neuron, NeuronError
from cosmonapse_neuron_hf import HuggingFaceNeuron, create_neuron
from cosmonapse_neuron_hf.standin import StandInServer


async def timed_out(neuron: HuggingFaceNeuron) -> NeuronError:
    async with neuron:
        with pytest.raises(NeuronError) as caught:
            await neuron({"prompt": "the sun"}, None)
    return caught.value


async def test_timeout_s_bounds_one_call() -> None:
    async with StandInServer(slow_s=60) as server:
        err = await timed_out(HuggingFaceNeuron(endpoint=server.fault_url("slow"), timeout_s=0.3))
    assert err.code == "UPSTREAM_TIMEOUT" and "within 0.3 s" in str(err)


async def test_the_old_timeout_still_works_with_a_warning_at_the_callers_line() -> None:
    async with StandInServer(slow_s=60) as server:
        url = server.fault_url("slow")
        with pytest.warns(CosmonapseDeprecationWarning, match=r"timeout_s=0\.3") as direct:
            neuron = HuggingFaceNeuron(endpoint=url, timeout=0.3)
        err = await timed_out(neuron)
        with pytest.warns(CosmonapseDeprecationWarning) as factory:
            built = create_neuron(endpoint=url, timeout=0.2)
        err_factory = await timed_out(built)
        with pytest.warns(CosmonapseDeprecationWarning) as by_source:
            sourced = Neuron(source="huggingface", endpoint=url, timeout=0.25)
        assert isinstance(sourced, HuggingFaceNeuron)
        err_source = await timed_out(sourced)
    assert "within 0.3 s" in str(err) and "within 0.2 s" in str(err_factory)
    assert "within 0.25 s" in str(err_source)
    for caught in (direct, factory, by_source):
        assert [w.filename for w in caught] == [__file__]


def test_timeout_s_and_timeout_together_are_refused() -> None:
    with pytest.raises(TypeError, match="not both"):
        HuggingFaceNeuron(endpoint="http://127.0.0.1:1", timeout_s=5, timeout=6)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="timeout_s"):
            HuggingFaceNeuron(endpoint="http://127.0.0.1:1", timeout_s=bad)
    with pytest.raises(TypeError, match="timeout_s"):
        HuggingFaceNeuron(endpoint="http://127.0.0.1:1", timeout_s="5")  # type: ignore[arg-type]
