"""Fixtures for Prism's tests: a real Prism on a free loopback port, watching a real
MemorySynapse, read over real HTTP with httpx; plus an SSE reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import cosmonapse_prism as prism
import httpx
import pytest
from cosmonapse import MemorySynapse, Signal, SignalType
from cosmonapse.subjects import signal_subject

NAMESPACE = "prism-test"
DEADLINE_S = 10.0  # a hang guard, never a performance assertion


class SSEReader:
    """Parses a text/event-stream response into ``(event, data)`` pairs."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next_event(self) -> tuple[str, Any]:
        event, data = "message", []
        async for line in self._lines:
            if line == "":
                if data:
                    return event, json.loads("\n".join(data))
                event = "message"
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        raise EOFError("the event stream ended")

    async def until(
        self, predicate: Callable[[str, Any], bool], *, deadline_s: float = DEADLINE_S
    ) -> list[tuple[str, Any]]:
        """Read events until ``predicate(event, data)`` holds; returns all read."""
        seen: list[tuple[str, Any]] = []
        async with asyncio.timeout(deadline_s):
            while True:
                item = await self.next_event()
                seen.append(item)
                if predicate(*item):
                    return seen

    async def signals(self, count: int, *, deadline_s: float = DEADLINE_S) -> list[dict[str, Any]]:
        """The next ``count`` live Signals (from ``signals`` events)."""
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(deadline_s):
            while len(out) < count:
                event, data = await self.next_event()
                if event == "signals":
                    out.extend(data["signals"])
        return out


@pytest.fixture
async def synapse() -> AsyncIterator[MemorySynapse]:
    bus = MemorySynapse()
    yield bus
    await bus.close()


StartPrism = Callable[..., Awaitable[prism.PrismServer]]


@pytest.fixture
async def start_prism(synapse: MemorySynapse) -> AsyncIterator[StartPrism]:
    """``await start_prism(**options)``: a running Prism on port 0 (closed afterwards)."""
    servers: list[prism.PrismServer] = []

    async def start(**options: Any) -> prism.PrismServer:
        options.setdefault("port", 0)
        server = await prism.watch(options.pop("synapse", synapse), NAMESPACE, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=DEADLINE_S) as client:
        yield client


@pytest.fixture
def publish(synapse: MemorySynapse) -> Callable[..., Awaitable[Signal]]:
    """``await publish(type, payload, namespace=..., **signal_fields)`` on the bus."""

    async def send(
        kind: SignalType = SignalType.AGENT_OUTPUT,
        payload: dict[str, Any] | None = None,
        *,
        namespace: str = NAMESPACE,
        **fields: Any,
    ) -> Signal:
        if payload is None:
            payload = {"output": {"ok": True}} if kind is SignalType.AGENT_OUTPUT else {}
        signal = Signal(type=kind, payload=payload, **fields)
        await synapse.publish(signal_subject(namespace, kind.value), signal.encode())
        return signal

    return send


@pytest.fixture
def open_stream(
    http: httpx.AsyncClient,
) -> Callable[..., Any]:
    """``async with open_stream(server, headers=...) as (response, reader)``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def opener(
        server: prism.PrismServer, path: str = "events", headers: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[httpx.Response, SSEReader]]:
        async with http.stream("GET", server.url + path, headers=headers or {}) as response:
            yield response, SSEReader(response)

    return opener


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(lambda: condition)``: poll state another task owns, with a
    hang guard."""

    async def wait(predicate: Callable[[], bool], *, deadline_s: float = DEADLINE_S) -> None:
        async with asyncio.timeout(deadline_s):
            while not predicate():  # noqa: ASYNC110 - the state has no event to wait on
                await asyncio.sleep(0.01)

    return wait
