"""The bounds a dev synapse server enforces (docs/protocol.md section 4, "Limits")."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["DEFAULT_MAX_LINE_BYTES", "DEFAULT_MAX_OUTBOUND_BYTES", "ServerLimits"]

DEFAULT_MAX_LINE_BYTES = 1_048_576
"""1 MiB: the longest line a client may send, newline excluded."""

DEFAULT_MAX_OUTBOUND_BYTES = 8 * 1_048_576
"""8 MiB of unsent lines per client before it is dropped as a slow consumer."""


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Every bound of the server, each with a counter in :attr:`DevSynapseServer.stats`.

    * ``max_line_bytes``: a longer line gets an ``err`` and ends that connection only.
    * ``max_outbound_bytes``: lines queued for one client that it has not read yet. Past
      the bound the client gets an ``err`` and is dropped (``slow_consumers`` counts it),
      so a client that stops reading never slows the publisher or anyone else.
    * ``max_subscriptions``: per connection; more gets an ``err``.
    * ``max_connections``: more gets an ``err`` and is closed at once.
    * ``max_namespaces``: namespaces tracked for ``mgmt_*`` counts; traffic in further
      namespaces is still routed, just not counted.
    * ``slow_consumer_grace_s``: how long a dropped slow consumer gets to read its
      ``err`` before the socket is aborted.
    * ``hello_timeout_s``: on a server with a token, how long a new connection has to
      authenticate with ``hello``; past it the connection gets an ``err`` and is closed
      (``auth_failures`` counts it), so idle unauthenticated sockets cannot hold the
      connection slots. Unused without a token.
    """

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_outbound_bytes: int = DEFAULT_MAX_OUTBOUND_BYTES
    max_subscriptions: int = 10_000
    max_connections: int = 1_024
    max_namespaces: int = 4_096
    slow_consumer_grace_s: float = 2.0
    hello_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ValueError(f"ServerLimits.{f.name} must be positive, got {value!r}")
