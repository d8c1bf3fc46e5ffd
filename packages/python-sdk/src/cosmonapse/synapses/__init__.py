"""Transports. Each implements :class:`~cosmonapse.synapses.base.Synapse`.

:class:`FaultySynapse` is not a transport but a wrapper around one, for tests: it drops,
duplicates, delays and reorders deliveries from a seeded random source (see
``docs/testing-faults.md``).
"""

from .base import DEFAULT_MAX_PENDING, MessageHandler, Subscription, Synapse
from .connect import connect_synapse, require_watchable
from .faulty import FaultySynapse
from .memory import MemorySynapse

__all__ = [
    "DEFAULT_MAX_PENDING",
    "FaultySynapse",
    "MemorySynapse",
    "MessageHandler",
    "Subscription",
    "Synapse",
    "connect_synapse",
    "require_watchable",
]
