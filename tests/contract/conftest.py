"""The shared Synapse contract suite: one set of tests, run against every transport.

Each transport contributes a factory in ``tests/transports/<name>.py`` exposing
``async def open_transport() -> Transport``: something that can ``connect()`` any number
of clients to one bus and ``aclose()`` it all afterwards. The ``bus`` fixture runs every
contract test once per transport listed in ``TRANSPORTS``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

import pytest

from tests.transports import TRANSPORTS, Transport


@pytest.fixture(params=TRANSPORTS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    module = importlib.import_module(f"tests.transports.{request.param}")
    transport: Transport = await module.open_transport()
    try:
        yield transport
    finally:
        await transport.aclose()
