"""Every exception the ``cosmo`` tool raises on purpose, in one place.

The hierarchy::

    CosmoError
    ├── ProtocolError        a client line broke the dev-synapse wire (docs/protocol.md section 4)
    ├── BrokerError          a broker the CLI was asked to start or reach is unavailable
    └── ConfigError          a configuration the CLI refuses to run with (an open bind
                             without a token, for instance)

Messages are written for the person at the terminal: they name the field, limit or
command involved.
"""

from __future__ import annotations

__all__ = ["BrokerError", "ConfigError", "CosmoError", "ProtocolError"]


class CosmoError(Exception):
    """Base class of the CLI's own errors."""


class ProtocolError(CosmoError):
    """A client line broke the dev-synapse wire.

    The message is sent back verbatim in an ``err`` line; the connection stays open.
    """


class BrokerError(CosmoError):
    """A broker could not be started or reached (for instance ``nats-server`` is missing)."""


class ConfigError(CosmoError):
    """The server was asked to run in a way that is unsafe or inconsistent.

    Raised by :meth:`~cosmonapse_cli.DevSynapseServer.start` when asked to listen on a
    non-loopback address without a token, and for an empty token. The message names the
    fix.
    """
