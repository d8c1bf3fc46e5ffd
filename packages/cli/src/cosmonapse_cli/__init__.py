"""The ``cosmo`` command line of Cosmonapse, and the dev synapse server it runs.

``DevSynapseServer`` starts the dev synapse in-process (port 0 picks a free port), which
is how tests and tools use it; the ``cosmo`` script is :func:`cosmonapse_cli.main.run`.
"""

from .exceptions import BrokerError, ConfigError, CosmoError, ProtocolError
from .server import DevSynapseServer, LocalSynapse, ServerLimits

__version__ = "0.2.0"

__all__ = [
    "BrokerError",
    "ConfigError",
    "CosmoError",
    "DevSynapseServer",
    "LocalSynapse",
    "ProtocolError",
    "ServerLimits",
    "__version__",
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
