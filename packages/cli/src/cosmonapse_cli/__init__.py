"""The ``cosmo`` command line of Cosmonapse, and the dev synapse server it runs.

``DevSynapseServer`` starts the dev synapse in-process (port 0 picks a free port), which
is how tests and tools use it; the ``cosmo`` script is :func:`cosmonapse_cli.main.run`.
"""

from types import FunctionType as _FunctionType

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

# Every public class and function shows this package as its module (in reprs, tracebacks
# and pickles) rather than the private module that defines it; names added to __all__
# later get it too. Pickle still finds each one here: every name in __all__ is importable
# from this package.
for _public in [globals()[_name] for _name in __all__]:
    if isinstance(_public, type | _FunctionType) and _public.__module__.startswith(f"{__name__}."):
        _public.__module__ = __name__
del _public, _FunctionType
