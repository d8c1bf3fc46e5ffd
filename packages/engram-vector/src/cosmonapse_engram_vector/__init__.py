"""VectorEngram for Cosmonapse: cosine top-k semantic memory with a per-trace saga journal.

Installed, it registers the Engram kind ``vector`` in the ``cosmonapse.engrams``
entry-point group, so the core finds it by name; it can also be imported and constructed
directly::

    from cosmonapse_engram_vector import VectorEngram

    vectors = VectorEngram(engram_id="docs", engram_kind="semantic")
"""

from ._engram import EmbedFunction, VectorEngram

__version__ = "0.2.0"
__all__ = ["EmbedFunction", "VectorEngram"]


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
