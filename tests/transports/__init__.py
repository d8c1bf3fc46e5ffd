"""Transports the contract suite runs against; see tests/contract/conftest.py."""

from __future__ import annotations

from typing import Protocol

from cosmonapse import Synapse

# One module per name in this package. Add a transport by adding its module and name.
TRANSPORTS = ["memory", "dev", "nats"]


class Transport(Protocol):
    url: str

    async def connect(self) -> Synapse:
        """A new client connected to this bus (the same Synapse object is fine for
        in-process transports)."""
        ...

    async def aclose(self) -> None:
        """Close every client and stop any server this transport started."""
        ...
