"""Public names of cosmonapse_engram_vector show the package as their module (as httpx and
anyio do) in reprs, tracebacks and pickles, and still pickle."""

from __future__ import annotations

import pickle
import types
import typing

import cosmonapse_engram_vector

# Pinned: every public class and function, and the module a user sees for it.
SHOWN = {
    "VectorEngram": "cosmonapse_engram_vector",
}


def test_public_names_show_the_package() -> None:
    public = {
        name: getattr(cosmonapse_engram_vector, name).__module__
        for name in cosmonapse_engram_vector.__all__
        if isinstance(getattr(cosmonapse_engram_vector, name), type | types.FunctionType)
    }
    assert public == SHOWN
    for name in public:  # annotations resolved where they were written
        typing.get_type_hints(getattr(cosmonapse_engram_vector, name))
    assert (
        repr(cosmonapse_engram_vector.VectorEngram)
        == "<class 'cosmonapse_engram_vector.VectorEngram'>"
    )


def test_the_engram_shows_and_pickles_its_class() -> None:
    # The class is pickled by reference, through its public module.
    assert pickle.loads(pickle.dumps(cosmonapse_engram_vector.VectorEngram)) is (
        cosmonapse_engram_vector.VectorEngram
    )
    # EmbedFunction is a type alias, not a class: left as it is.
    assert not isinstance(cosmonapse_engram_vector.EmbedFunction, type)
