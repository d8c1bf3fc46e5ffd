"""The Hugging Face Neuron for Cosmonapse.

``cosmonapse.Neuron(source="huggingface", endpoint=..., ...)`` (or ``source="hf"``) finds
:func:`create_neuron` through the ``cosmonapse.neurons`` entry point and returns a
:class:`HuggingFaceNeuron`: an ``async (input, context) -> dict`` callable that talks to the
HF router, Inference Endpoints, TGI or vLLM over one pooled ``httpx.AsyncClient``.

:mod:`cosmonapse_neuron_hf.standin` is a small loopback server that speaks the same two APIs,
for tests and examples that run without a token.
"""

from ._neuron import HuggingFaceNeuron, create_neuron

__version__ = "0.2.0"
__all__ = ["HuggingFaceNeuron", "create_neuron"]


from cosmonapse.public_names import show_as_public

show_as_public(__name__, globals(), __all__)
del show_as_public
