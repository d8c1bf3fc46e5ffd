"""Cosmonapse: multi-agent systems on an event bus."""

from ._ids import new_event_id, new_trace_id
from .exceptions import (
    CosmonapseError,
    DendriteStateError,
    DispatchTimeoutError,
    EngramError,
    EngramTimeoutError,
    EnvelopeError,
    FrameTooLargeError,
    NeuronError,
    PluginError,
    PluginNotInstalledError,
    RoleError,
    ServerError,
    SubjectError,
    SynapseClosedError,
    SynapseConnectError,
    SynapseError,
    TraceStoppedError,
    UnknownEngramBindingError,
    UnknownPluginError,
    UnsupportedVersionError,
)
from .signal import PROTOCOL_VERSION, Directed, Signal, SignalType
from .synapses import MemorySynapse, Subscription, Synapse, connect_synapse

__version__ = "0.2.0"
