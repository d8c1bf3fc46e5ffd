"""The Hugging Face Neuron for Cosmonapse.

``cosmonapse.Neuron(source="huggingface", endpoint=..., ...)`` (or ``source="hf"``) finds
:func:`create_neuron` through the ``cosmonapse.neurons`` entry point and returns a
:class:`HuggingFaceNeuron`: an ``async (input, context) -> dict`` callable that talks to the
HF router, Inference Endpoints, TGI or vLLM over one pooled ``httpx.AsyncClient``.

:mod:`cosmonapse_neuron_hf.standin` is a small loopback server that speaks the same two APIs,
for tests and examples that run without a token.
"""

from types import FunctionType as _FunctionType

from ._neuron import HuggingFaceNeuron, create_neuron

__version__ = "0.2.0"
__all__ = ["HuggingFaceNeuron", "create_neuron"]

# Every public class and function shows this package as its module (in reprs, tracebacks
# and pickles) rather than the private module that defines it; names added to __all__
# later get it too. Pickle still finds each one here: every name in __all__ is importable
# from this package.
for _public in [globals()[_name] for _name in __all__]:
    if isinstance(_public, type | _FunctionType) and _public.__module__.startswith(f"{__name__}."):
        _public.__module__ = __name__
del _public, _FunctionType
