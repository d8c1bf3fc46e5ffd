"""Public names of cosmonapse_neuron_hf show the package as their module (as httpx and
anyio do) in reprs, tracebacks and pickles, and still pickle."""

from __future__ import annotations

import pickle
import traceback
import types
import typing

import cosmonapse_neuron_hf

# Pinned: every public class and function, and the module a user sees for it.
SHOWN = {
    "HuggingFaceNeuron": "cosmonapse_neuron_hf",
    "create_neuron": "cosmonapse_neuron_hf",
}


def test_public_names_show_the_package() -> None:
    public = {
        name: getattr(cosmonapse_neuron_hf, name).__module__
        for name in cosmonapse_neuron_hf.__all__
        if isinstance(getattr(cosmonapse_neuron_hf, name), type | types.FunctionType)
    }
    assert public == SHOWN
    for name in public:  # annotations resolved where they were written
        typing.get_type_hints(getattr(cosmonapse_neuron_hf, name))
    assert (
        repr(cosmonapse_neuron_hf.HuggingFaceNeuron)
        == "<class 'cosmonapse_neuron_hf.HuggingFaceNeuron'>"
    )


def test_the_factory_shows_and_pickles_by_reference() -> None:
    assert cosmonapse_neuron_hf.create_neuron.__module__ == "cosmonapse_neuron_hf"
    assert pickle.loads(pickle.dumps(cosmonapse_neuron_hf.create_neuron)) is (
        cosmonapse_neuron_hf.create_neuron
    )
    assert "cosmonapse_neuron_hf.HuggingFaceNeuron" in "".join(
        traceback.format_exception_only(TypeError(repr(cosmonapse_neuron_hf.HuggingFaceNeuron)))
    )
