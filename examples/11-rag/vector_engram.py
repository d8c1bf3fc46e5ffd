"""The VectorEngram used by the RAG example, re-exported from its package.

This module exists so that examples can import the class from a sibling directory without
knowing the package name: the resilience walkthrough, a sibling example folder, puts this
folder on ``sys.path`` and runs ``from vector_engram import VectorEngram``. The class itself
lives in the ``cosmonapse-engram-vector`` distribution (``pip install
cosmonapse-engram-vector``); nothing is redefined here, so both import paths give the very
same class.
"""

from cosmonapse_engram_vector import VectorEngram

__all__ = ["VectorEngram"]
