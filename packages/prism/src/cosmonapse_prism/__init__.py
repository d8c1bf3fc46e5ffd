"""Prism: the live browser view of a Cosmonapse synapse.

Two ways in:

* ``cosmo prism --url cosmo://127.0.0.1:7070 -n demo`` serves http://127.0.0.1:7071 for a
  synapse reached by URL (the CLI entry point is :func:`cosmonapse_prism.cli.command`);
* ``async with prism.watch(synapse, "demo") as view:`` serves it for a synapse you already
  hold in this process, a MemorySynapse included.

The page streams every Signal of the namespace over Server-Sent Events and shows a
filterable list, trace trees with timings, participants and metrics.
"""

from types import FunctionType as _FunctionType

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

# Every public class and function shows this package as its module (in reprs, tracebacks
# and pickles) rather than the private module that defines it; names added to __all__
# later get it too. Pickle still finds each one here: every name in __all__ is importable
# from this package.
for _public in [globals()[_name] for _name in __all__]:
    if isinstance(_public, type | _FunctionType) and _public.__module__.startswith(f"{__name__}."):
        _public.__module__ = __name__
del _public, _FunctionType
