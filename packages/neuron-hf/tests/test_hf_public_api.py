"""The package's public surface, pinned."""

from __future__ import annotations

import importlib.metadata
import inspect

import cosmonapse_neuron_hf
import cosmonapse_neuron_hf.standin
from cosmonapse_neuron_hf import HuggingFaceNeuron, create_neuron


def test_public_names_are_pinned() -> None:
    assert sorted(cosmonapse_neuron_hf.__all__) == ["HuggingFaceNeuron", "create_neuron"]
    assert sorted(cosmonapse_neuron_hf.standin.__all__) == [
        "FAULTS",
        "FAULT_HEADER",
        "FAULT_PREFIX",
        "RecordedRequest",
        "StandInServer",
    ]
    for module in (cosmonapse_neuron_hf, cosmonapse_neuron_hf.standin):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_version_matches_the_distribution() -> None:
    assert cosmonapse_neuron_hf.__version__ == importlib.metadata.version("cosmonapse-neuron-hf")


def test_factory_and_class_take_the_same_options() -> None:
    factory = inspect.signature(create_neuron).parameters
    cls = inspect.signature(HuggingFaceNeuron).parameters
    assert list(factory) == list(cls)
    for name in factory:
        assert factory[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert factory[name].default == cls[name].default
    expected = {
        "endpoint": inspect.Parameter.empty,
        "model": None,
        "api_key": None,
        "use_chat_api": False,
        "max_new_tokens": 512,
        "temperature": None,
        "system": None,
        "stop": None,
        "timeout_s": 120.0,
        "timeout": None,  # deprecated: timeout_s
        "source": None,
    }
    for name, default in expected.items():
        assert factory[name].default == default, name


def test_entry_points_name_the_factory() -> None:
    found = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group="cosmonapse.neurons")
    }
    assert found["huggingface"] == "cosmonapse_neuron_hf:create_neuron"
    assert found["hf"] == "cosmonapse_neuron_hf:create_neuron"
