"""Public names of cosmonapse_prism show the package as their module (as httpx and
anyio do) in reprs, tracebacks and pickles, and still pickle."""

from __future__ import annotations

import pickle
import traceback
import types
import typing

import cosmonapse_prism

# Pinned: every public class and function, and the module a user sees for it.
SHOWN = {
    "PrismError": "cosmonapse_prism",
    "PrismServer": "cosmonapse_prism",
    "PrismStartError": "cosmonapse_prism",
    "SignalHub": "cosmonapse_prism",
    "TooManyViewersError": "cosmonapse_prism",
    "ViewerFeed": "cosmonapse_prism",
    "create_app": "cosmonapse_prism",
    "watch": "cosmonapse_prism",
}


def test_public_names_show_the_package() -> None:
    public = {
        name: getattr(cosmonapse_prism, name).__module__
        for name in cosmonapse_prism.__all__
        if isinstance(getattr(cosmonapse_prism, name), type | types.FunctionType)
    }
    assert public == SHOWN
    for name in public:  # annotations resolved where they were written
        typing.get_type_hints(getattr(cosmonapse_prism, name))
    assert repr(cosmonapse_prism.PrismServer) == "<class 'cosmonapse_prism.PrismServer'>"


def test_errors_show_and_pickle() -> None:
    error = cosmonapse_prism.PrismStartError("port 7071 is taken")
    shown = traceback.format_exception_only(error)
    assert shown == ["cosmonapse_prism.PrismStartError: port 7071 is taken\n"]
    for cls in (
        cosmonapse_prism.PrismError,
        cosmonapse_prism.PrismStartError,
        cosmonapse_prism.TooManyViewersError,
    ):
        back = pickle.loads(pickle.dumps(cls("boom")))
        assert type(back) is cls and str(back) == "boom"
