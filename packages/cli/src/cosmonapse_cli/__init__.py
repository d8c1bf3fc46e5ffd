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


from cosmonapse.public_names import show_as_public

show_as_public(__name__, globals(), __all__)
del show_as_public
