"""Cosmonapse: multi-agent systems on an event bus.

Agents are plain async functions (Neurons) wrapped by Axons; Dendrites are the participants
on a bus (the Synapse) that exchange typed JSON Signals under a trace id. See the README
of this package for a ten-line example.
"""

from . import builders
from ._deprecation import CosmonapseDeprecationWarning
from ._ids import new_event_id, new_trace_id
from ._plugins import installed_plugins
from .attachments import Attachment, HandlerSubscription
from .axon import Axon, NeuronFn
from .budget import TraceBudget
from .context import NeuronContext
from .delegation import CallHelper
from .dendrite import Dendrite
from .engram import Engram, Hit, ImprintResult, InMemoryEngram
from .engram_binding import EngramBinding
from .exceptions import (
    CosmonapseError,
    CosmonapseTimeoutError,
    DendriteStateError,
    DispatchTimeoutError,
    DurableWorkError,
    EngramError,
    EngramStoreError,
    EngramTimeoutError,
    EnvelopeError,
    FrameTooLargeError,
    NeuronError,
    NoCapableNeuronError,
    PluginError,
    PluginNotInstalledError,
    RoleError,
    ServerError,
    SubjectError,
    SynapseAuthError,
    SynapseClosedError,
    SynapseConnectError,
    SynapseError,
    SynapseURLError,
    TaskFailedError,
    TraceBudgetExceededError,
    TraceStoppedError,
    UnknownEngramBindingError,
    UnknownPluginError,
    UnsupportedVersionError,
)
from .neuron import Neuron
from .ownership import HashRing, owner_of
from .registry import MemoryRegistryStore, Participant, RegistryStore
from .results import Reply, StopResult
from .retry import RetryStrategy
from .route import Route, RouteCache, route_of
from .signal import PROTOCOL_VERSION, Directed, Signal, SignalType
from .sqlite_engram import SqliteEngram
from .synapses import MemorySynapse, Subscription, Synapse, connect_synapse

__version__ = "0.2.0"

__all__ = [
    "PROTOCOL_VERSION",
    "Attachment",
    "Axon",
    "CallHelper",
    "CosmonapseDeprecationWarning",
    "CosmonapseError",
    "CosmonapseTimeoutError",
    "Dendrite",
    "DendriteStateError",
    "Directed",
    "DispatchTimeoutError",
    "DurableWorkError",
    "Engram",
    "EngramBinding",
    "EngramError",
    "EngramStoreError",
    "EngramTimeoutError",
    "EnvelopeError",
    "FrameTooLargeError",
    "HandlerSubscription",
    "HashRing",
    "Hit",
    "ImprintResult",
    "InMemoryEngram",
    "MemoryRegistryStore",
    "MemorySynapse",
    "Neuron",
    "NeuronContext",
    "NeuronError",
    "NeuronFn",
    "NoCapableNeuronError",
    "Participant",
    "PluginError",
    "PluginNotInstalledError",
    "RegistryStore",
    "Reply",
    "RetryStrategy",
    "RoleError",
    "Route",
    "RouteCache",
    "ServerError",
    "Signal",
    "SignalType",
    "SqliteEngram",
    "StopResult",
    "Subscription",
    "SubjectError",
    "Synapse",
    "SynapseAuthError",
    "SynapseClosedError",
    "SynapseConnectError",
    "SynapseError",
    "SynapseURLError",
    "TaskFailedError",
    "TraceBudget",
    "TraceBudgetExceededError",
    "TraceStoppedError",
    "UnknownEngramBindingError",
    "UnknownPluginError",
    "UnsupportedVersionError",
    "__version__",
    "builders",
    "connect_synapse",
    "installed_plugins",
    "new_event_id",
    "new_trace_id",
    "owner_of",
    "route_of",
]


from .public_names import show_as_public

show_as_public(__name__, globals(), __all__)
del show_as_public
