"""Transports. Each implements :class:`~cosmonapse.synapses.base.Synapse`."""

from .base import DEFAULT_MAX_PENDING, MessageHandler, Subscription, Synapse
from .connect import connect_synapse
from .memory import MemorySynapse

__all__ = [
    "DEFAULT_MAX_PENDING",
    "MemorySynapse",
    "MessageHandler",
    "Subscription",
    "Synapse",
    "connect_synapse",
]
