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


from cosmonapse.public_names import show_as_public

show_as_public(__name__, globals(), __all__)
del show_as_public
