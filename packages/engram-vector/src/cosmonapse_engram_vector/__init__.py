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


from cosmonapse.public_names import show_as_public

show_as_public(__name__, globals(), __all__)
del show_as_public
