"""The dev synapse server (``cosmo://``): TCP, one JSON object per line, one host.

See :class:`DevSynapseServer` for the API and docs/protocol.md section 4 for the wire.
"""

from .app import DEFAULT_HOST, DEFAULT_PORT, DevSynapseServer, is_loopback
from .limits import DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_OUTBOUND_BYTES, ServerLimits
from .local import LocalSynapse

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_MAX_OUTBOUND_BYTES",
    "DEFAULT_PORT",
    "DevSynapseServer",
    "LocalSynapse",
    "ServerLimits",
    "is_loopback",
]
