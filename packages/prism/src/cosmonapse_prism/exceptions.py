"""Every exception Prism raises, in one place.

The hierarchy::

    PrismError (a CosmonapseError)
    ├── PrismStartError (also OSError)      the HTTP port could not be bound
    └── TooManyViewersError                 the viewer limit of one Prism is reached

Errors from the synapse itself (``SynapseConnectError`` and friends) come from
:mod:`cosmonapse.exceptions` unchanged.
"""

from __future__ import annotations

from cosmonapse import CosmonapseError

__all__ = ["PrismError", "PrismStartError", "TooManyViewersError"]


class PrismError(CosmonapseError):
    """Base class of every error Prism raises on purpose."""


class PrismStartError(PrismError, OSError):
    """The HTTP listener could not be opened (the port is taken, or the address is not
    local). The message names the address and says how to pick another port."""


class TooManyViewersError(PrismError):
    """A browser tab tried to connect while ``max_viewers`` tabs were already watching;
    the HTTP answer is 503."""
