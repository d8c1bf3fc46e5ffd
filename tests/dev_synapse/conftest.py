"""Fixtures for the dev synapse tests: the CLI's server on a free loopback port, the
SDK's ``cosmo://`` client against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from cosmonapse_cli.server import DevSynapseServer


@pytest.fixture
async def server() -> AsyncIterator[DevSynapseServer]:
    async with DevSynapseServer("127.0.0.1", port=0) as srv:
        yield srv


async def _eventually(predicate: Callable[[], bool], *, within_s: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 (counters of other objects have no event)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), within_s)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(predicate)``: wait until it holds; fail after 10 s (a hang
    guard, not a timing assertion)."""
    return _eventually
