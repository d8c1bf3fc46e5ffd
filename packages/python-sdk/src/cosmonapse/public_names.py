"""Public names that show their package as their module, as httpx and anyio do.

Each package of this project ends its ``__init__`` with
``show_as_public(__name__, globals(), __all__)``: every public class and function then
shows the package (``cosmonapse.Dendrite``, ``cosmonapse_prism.PrismServer``) in reprs,
tracebacks and pickles, rather than the private module that defines it.
"""

from __future__ import annotations

import contextlib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["show_as_public"]


def show_as_public(package: str, namespace: Mapping[str, Any], names: Iterable[str]) -> None:
    """Set ``__module__`` to ``package`` for each class and function in ``names`` that a
    submodule of ``package`` defines. Pickle still finds each one, since every name is
    importable from the package. A class's own annotations are resolved first, in the
    module that wrote them, so ``typing.get_type_hints`` keeps working (an annotation it
    cannot resolve stays a string)."""
    prefix = f"{package}."
    for name in names:
        public = namespace[name]
        if not isinstance(public, type | types.FunctionType):
            continue
        if not public.__module__.startswith(prefix):
            continue
        own = vars(public).get("__annotations__")
        if isinstance(public, type) and own:
            with contextlib.suppress(Exception):
                hints = typing.get_type_hints(public, include_extras=True)
                public.__annotations__ = {key: hints[key] for key in own}
        public.__module__ = package
