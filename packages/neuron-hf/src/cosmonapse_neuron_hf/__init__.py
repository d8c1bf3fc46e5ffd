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


def _show_public_names_here() -> None:
    """Every public class and function shows this package as its module (in reprs,
    tracebacks and pickles) rather than the private module that defines it; names added
    to ``__all__`` later get it too. Pickle still finds each one here: every name in
    ``__all__`` is importable from this package. A class's own annotations are resolved
    first, in the module that wrote them, so ``typing.get_type_hints`` keeps working (an
    annotation it cannot resolve stays a string)."""
    import contextlib
    import types
    import typing

    for name in __all__:
        public = globals()[name]
        if not isinstance(public, type | types.FunctionType):
            continue
        if not public.__module__.startswith(f"{__name__}."):
            continue
        own = vars(public).get("__annotations__")
        if isinstance(public, type) and own:
            with contextlib.suppress(Exception):
                hints = typing.get_type_hints(public, include_extras=True)
                public.__annotations__ = {key: hints[key] for key in own}
        public.__module__ = __name__


_show_public_names_here()
del _show_public_names_here
