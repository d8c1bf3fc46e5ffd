"""VectorEngram for Cosmonapse: cosine top-k semantic memory with a per-trace saga journal.

Installed, it registers the Engram kind ``vector`` in the ``cosmonapse.engrams``
entry-point group, so the core finds it by name; it can also be imported and constructed
directly::

    from cosmonapse_engram_vector import VectorEngram

    vectors = VectorEngram(engram_id="docs", engram_kind="semantic")
"""

from types import FunctionType as _FunctionType

from ._engram import EmbedFunction, VectorEngram

__version__ = "0.2.0"
__all__ = ["EmbedFunction", "VectorEngram"]

# Every public class and function shows this package as its module (in reprs, tracebacks
# and pickles) rather than the private module that defines it; names added to __all__
# later get it too. Pickle still finds each one here: every name in __all__ is importable
# from this package.
for _public in [globals()[_name] for _name in __all__]:
    if isinstance(_public, type | _FunctionType) and _public.__module__.startswith(f"{__name__}."):
        _public.__module__ = __name__
del _public, _FunctionType
