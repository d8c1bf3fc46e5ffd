"""The public API of the SDK is ``cosmonapse.__all__``; this pins it."""

from __future__ import annotations

import importlib
import importlib.metadata

import cosmonapse
from cosmonapse import exceptions

PUBLIC_API = [
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
    "PROTOCOL_VERSION",
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
    "SubjectError",
    "Subscription",
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


def test_public_api_is_pinned() -> None:
    assert sorted(PUBLIC_API) == PUBLIC_API
    assert len(set(cosmonapse.__all__)) == len(cosmonapse.__all__), "duplicate names"
    assert sorted(cosmonapse.__all__) == PUBLIC_API


def test_every_public_name_is_importable() -> None:
    module = importlib.import_module("cosmonapse")
    for name in cosmonapse.__all__:
        assert getattr(module, name, None) is not None, name
    namespace: dict[str, object] = {}
    exec("from cosmonapse import *", namespace)
    assert set(cosmonapse.__all__) <= set(namespace)


def test_every_exception_is_public_and_derives_from_the_base() -> None:
    assert sorted(exceptions.__all__) == sorted(n for n in PUBLIC_API if n.endswith("Error"))
    for name in exceptions.__all__:
        cls = getattr(cosmonapse, name)
        assert cls is getattr(exceptions, name)
        assert issubclass(cls, cosmonapse.CosmonapseError)
        # The hierarchy drawn in the module docstring mentions every class.
        assert name in (exceptions.__doc__ or ""), name


def test_version() -> None:
    assert cosmonapse.__version__ == "0.2.0"
    assert importlib.metadata.version("cosmonapse") == cosmonapse.__version__
    assert cosmonapse.PROTOCOL_VERSION == "1"
