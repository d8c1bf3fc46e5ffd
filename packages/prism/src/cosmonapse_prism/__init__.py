"""Prism: the live browser view of a Cosmonapse synapse.

Two ways in:

* ``cosmo prism --url cosmo://127.0.0.1:7070 -n demo`` serves http://127.0.0.1:7071 for a
  synapse reached by URL (the CLI entry point is :func:`cosmonapse_prism.cli.command`);
* ``async with prism.watch(synapse, "demo") as view:`` serves it for a synapse you already
  hold in this process, a MemorySynapse included.

The page streams every Signal of the namespace over Server-Sent Events and shows a
filterable list, trace trees with timings, participants and metrics.
"""

from ._version import __version__
from .app import create_app
from .exceptions import PrismError, PrismStartError, TooManyViewersError
from .hub import SignalHub, ViewerFeed
from .server import DEFAULT_HOST, DEFAULT_PORT, PrismServer, watch

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "PrismError",
    "PrismServer",
    "PrismStartError",
    "SignalHub",
    "TooManyViewersError",
    "ViewerFeed",
    "__version__",
    "create_app",
    "watch",
]


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
