"""Fixtures for the Hugging Face Neuron tests: a stand-in server per test, on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from cosmonapse_neuron_hf.standin import StandInServer


@pytest.fixture(autouse=True)
def _no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real HF_TOKEN must neither leak into requests nor change results.
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
async def standin() -> AsyncIterator[StandInServer]:
    async with StandInServer() as server:
        yield server


Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


async def _eventually(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        # Polls a counter kept by another party (the server); no event to wait on.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 10.0)  # a hang guard, not a timing assertion


@pytest.fixture
def eventually() -> Eventually:
    """``await eventually(predicate)``: wait until it holds; fail after 10 s."""
    return _eventually
