"""Every exception Cosmonapse raises, in one place.

The hierarchy::

    CosmonapseError
    ├── EnvelopeError (also ValueError)        a Signal that breaks docs/protocol.md section 1
    │   └── UnsupportedVersionError             a wrong major protocol version
    ├── SubjectError (also ValueError)          an invalid namespace or subject token
    ├── SynapseError                            a transport failed
    │   ├── SynapseConnectError (ConnectionError)   nothing answered at the URL
    │   │   └── SynapseAuthError                the server refused the credentials
    │   ├── SynapseClosedError                  used after close()
    │   ├── FrameTooLargeError                  a frame over the transport's limit
    │   ├── ServerError                         the broker answered ``err``
    │   └── DurableWorkError                    JetStream did not store a TASK or STOP
    ├── PluginError                             entry-point discovery
    │   ├── UnknownPluginError (also LookupError)   no such scheme, source or kind
    │   │   └── SynapseURLError (also ValueError)   not a synapse URL (no scheme://)
    │   └── PluginNotInstalledError (also ImportError) known, but its package is missing
    ├── RoleError (also PermissionError)        a worker tried to send TASK or STOP
    ├── DendriteStateError (also RuntimeError)  used before start() or after stop()
    ├── CosmonapseTimeoutError (also TimeoutError)  a wait passed its deadline
    │   ├── DispatchTimeoutError                no reply to a TASK in time
    │   └── EngramTimeoutError (also EngramError)   no answer to an IMPRINT or RECALL
    ├── TaskFailedError                         a TASK was answered with an ERROR
    ├── NoCapableNeuronError (also LookupError)  no live host covers the capabilities
    ├── TraceStoppedError                       the trace was STOPped while waiting
    │   └── TraceBudgetExceededError            ... because it passed a TraceBudget bound
    ├── EngramError                             an Engram operation failed
    │   ├── EngramStoreError                    a durable Engram's file failed (names the path)
    │   └── UnknownEngramBindingError (also KeyError)
    └── NeuronError                             a Neuron reports a failure as an ERROR Signal

Each class's docstring says when it is raised. Messages name the field, limit or
plugin involved, and never contain credentials.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CosmonapseError",
    "CosmonapseTimeoutError",
    "DendriteStateError",
    "DispatchTimeoutError",
    "DurableWorkError",
    "EngramError",
    "EngramStoreError",
    "EngramTimeoutError",
    "EnvelopeError",
    "FrameTooLargeError",
    "NeuronError",
    "NoCapableNeuronError",
    "PluginError",
    "PluginNotInstalledError",
    "RoleError",
    "ServerError",
    "SubjectError",
    "SynapseAuthError",
    "SynapseClosedError",
    "SynapseConnectError",
    "SynapseError",
    "SynapseURLError",
    "TaskFailedError",
    "TraceBudgetExceededError",
    "TraceStoppedError",
    "UnknownEngramBindingError",
    "UnknownPluginError",
    "UnsupportedVersionError",
]


class CosmonapseError(Exception):
    """Base class of every error this library raises on purpose.

    Every one pickles (across processes, for example), keyword options included: it is
    rebuilt from its ``args`` and attributes, not by calling its constructor again.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args), self.__dict__)


class EnvelopeError(CosmonapseError, ValueError):
    """A Signal could not be decoded or validated.

    ``field`` names the offending envelope field (``"trace_id"``, ``"payload"``...) or is
    ``None`` when the frame as a whole is at fault (not JSON, not an object).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedVersionError(EnvelopeError):
    """The Signal's ``v`` names a major protocol version other than 1."""


class SubjectError(CosmonapseError, ValueError):
    """A namespace or subject is empty, has whitespace or control characters, or a
    namespace contains ``.``, ``*`` or ``>``."""


class SynapseError(CosmonapseError):
    """A transport failed."""


class DurableWorkError(SynapseError):
    """``nats+js://``: JetStream did not store a TASK or record a STOP (no JetStream on
    the server, no quorum, or no answer in time); the frame was not sent
    (docs/transports/nats.md, "Durable work")."""


class SynapseConnectError(SynapseError, ConnectionError):
    """Nothing answered at the URL (refused, unreachable, or the handshake failed)."""


class SynapseClosedError(SynapseError):
    """The Synapse was used after :meth:`~cosmonapse.Synapse.close`."""


class FrameTooLargeError(SynapseError):
    """A frame is larger than the transport's limit; nothing was sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class ServerError(SynapseError):
    """The broker refused a request and said why (a dev-synapse ``err`` line)."""


class PluginError(CosmonapseError):
    """Entry-point discovery failed."""


class UnknownPluginError(PluginError, LookupError):
    """No installed plugin provides that URL scheme, Neuron source or Engram kind."""


class SynapseURLError(UnknownPluginError, ValueError):
    """``connect_synapse`` was given something that is not a synapse URL at all (no
    ``scheme://``, as in ``"junk"`` or ``"127.0.0.1:7070"``): a ValueError, and an
    UnknownPluginError as it was before 0.2. The message names the installed schemes."""


class PluginNotInstalledError(PluginError, ImportError):
    """The plugin is known, but the package that provides it is not installed.

    The message carries the ``pip install`` command that adds it.
    """


class RoleError(CosmonapseError, PermissionError):
    """A Dendrite tried to send a Signal its role does not allow (only orchestrators send
    TASK and STOP)."""


class DendriteStateError(CosmonapseError, RuntimeError):
    """A Dendrite was used before :meth:`start` or after :meth:`stop`."""


class CosmonapseTimeoutError(CosmonapseError, TimeoutError):
    """A wait of this library passed its deadline (the base of every timeout it raises,
    so ``except CosmonapseTimeoutError`` or the built-in ``except TimeoutError`` catch them
    all)."""


class DispatchTimeoutError(CosmonapseTimeoutError):
    """No terminal reply to a TASK arrived before the deadline."""


class TaskFailedError(CosmonapseError):
    """A TASK was answered with an ERROR: raised by :meth:`Reply.raise_for_error
    <cosmonapse.Reply.raise_for_error>` (and by reading ``Reply.output`` of an ERROR).

    ``code``, ``recoverable`` and the message are the ERROR's; ``producer`` is who sent it
    (a neuron id, or the Dendrite for a refusal such as ``OVERLOADED``), ``trace_id`` its
    trace and ``reply`` the ERROR Signal itself.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        recoverable: bool,
        trace_id: str,
        producer: str | None = None,
        reply: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.recoverable = recoverable
        self.trace_id = trace_id
        self.producer = producer
        self.reply = reply

    def __str__(self) -> str:
        who = f" from {self.producer!r}" if self.producer else ""
        return f"{self.code}{who}: {self.message}"


class NoCapableNeuronError(CosmonapseError, LookupError):
    """No live host covers the capabilities a TASK asked for (after a DISCOVER and its
    short wait), so nothing was dispatched. The dispatcher also published an ERROR with
    ``code`` ``no_capable_neuron`` on the trace, so observers see why it ended."""

    code = "no_capable_neuron"

    def __init__(self, message: str, *, capabilities: list[str], trace_id: str) -> None:
        super().__init__(message)
        self.capabilities = capabilities
        self.trace_id = trace_id


class TraceStoppedError(CosmonapseError):
    """The trace being waited on was STOPped (here or by another Dendrite); the message
    gives the STOP's reason."""


class TraceBudgetExceededError(TraceStoppedError):
    """A trace passed a bound of its :class:`~cosmonapse.TraceBudget` and was STOPped
    everywhere. ``bound`` names it (``max_depth``, ``max_tasks`` or ``max_tokens``),
    ``limit`` is its value and ``value`` what the trace reached."""

    def __init__(self, message: str, *, trace_id: str, bound: str, limit: int, value: int) -> None:
        super().__init__(message)
        self.trace_id = trace_id
        self.bound = bound
        self.limit = limit
        self.value = value


class EngramError(CosmonapseError):
    """An Engram refused or failed an operation; the message is the Engram's reason."""


class EngramTimeoutError(EngramError, CosmonapseTimeoutError):
    """An IMPRINT or RECALL got no reply before its deadline."""


class EngramStoreError(EngramError):
    """A durable Engram's storage failed: the file is not an engram store, is corrupt, is
    held by another process, or a write could not be committed (a full disk). The message
    names the path; a failed write changed nothing (docs/engrams.md)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class UnknownEngramBindingError(EngramError, KeyError):
    """A Neuron used an Engram name its Axon does not bind."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class NeuronError(CosmonapseError):
    """Raise from a Neuron to answer with a specific ERROR.

    ``code`` and ``recoverable`` are copied to the ERROR payload; a recoverable ERROR is
    retried by :class:`~cosmonapse.RetryStrategy`. ``retry_after_s`` (optional) is copied to
    ``meta.retry_after_s`` as a hint for backoff.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "NEURON_ERROR",
        recoverable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.recoverable = recoverable
        self.retry_after_s = retry_after_s


class SynapseAuthError(SynapseConnectError):
    """The server refused this client's credentials (a dev synapse token, a NATS user and
    password or token). Raised by connecting; a client that meets it while reconnecting
    stops retrying and closes, since the same credentials would be refused again. The
    message never contains the credentials."""


def _rebuild(cls: type[CosmonapseError], args: tuple[Any, ...]) -> CosmonapseError:
    """Unpickle an error without its constructor (its options are restored as state)."""
    error = cls.__new__(cls)
    error.args = args
    return error
