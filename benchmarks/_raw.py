"""The raw baselines over TCP: plain asyncio streams moving NDJSON lines, no Cosmonapse.

* :func:`echo_server`: reads lines and writes each back on the same connection.
* :func:`relay_server`: the smallest pub/sub relay. A connection's first line names its
  role and is answered ``ok`` once the relay has it: ``caller`` lines go to one
  ``worker`` (round-robin), ``worker`` lines go back to the caller, ``pub`` lines go to
  every ``sub``. It routes by role, never parsing JSON, and writes into the receivers'
  transport buffers without awaiting, like the dev synapse server, with the same kind
  of bound on each buffer.
* :class:`RawCaller`: one connection, any number of requests in flight; replies come
  back in order, so each one resolves the oldest waiting future.
* :func:`raw_workers`: connections that echo every line they get back to the relay.
* :class:`RawSubscriber`: a ``sub`` connection that reports each line it reads.

These are the floors for a Python program moving the same lines over asyncio streams
with the same number of hops; they do no JSON work at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

__all__ = [
    "RawCaller",
    "RawSubscriber",
    "echo_server",
    "raw_workers",
    "relay_server",
    "split_address",
]

LOOPBACK = "127.0.0.1"
LIMIT = 8 * 1_048_576  # longest line (the payload figures go up to 1 MiB)
MAX_BUFFER = 64 * 1_048_576  # unsent bytes per receiver before it is dropped
DEADLINE_S = 10.0

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _send(writer: asyncio.StreamWriter, line: bytes) -> None:
    transport = writer.transport
    if transport.is_closing():
        return
    transport.write(line)
    if transport.get_write_buffer_size() > MAX_BUFFER:
        transport.abort()  # a receiver that does not read is dropped, as the dev server does


@contextlib.asynccontextmanager
async def _serving(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` per connection on a free loopback port; yields ``host:port``.

    On exit every connection is aborted, so its handler ends on its own (a cancelled
    connection task would make asyncio log an error), and awaited for a bounded time.
    """
    conns: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def owned(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conns[task] = writer
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            conns.pop(task, None)
            writer.close()

    server = await asyncio.start_server(owned, LOOPBACK, 0, limit=LIMIT)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        server.close()
        for writer in list(conns.values()):
            writer.transport.abort()
        if conns:
            _, stuck = await asyncio.wait(list(conns), timeout=2.0)
            for task in stuck:
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[str]:
    """A raw NDJSON echo server on a free loopback port; yields ``host:port``."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _send(writer, await reader.readuntil(b"\n"))

    async with _serving(echo) as address:
        yield address


@contextlib.asynccontextmanager
async def relay_server() -> AsyncIterator[str]:
    """A raw NDJSON relay on a free loopback port (see the module docs); yields
    ``host:port``. It expects one caller at a time."""
    roles: dict[bytes, list[asyncio.StreamWriter]] = {
        b"caller": [],
        b"worker": [],
        b"sub": [],
        b"pub": [],
    }
    callers, workers, subs = roles[b"caller"], roles[b"worker"], roles[b"sub"]
    turn = itertools.count()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        role = (await reader.readuntil(b"\n")).strip()
        members = roles.get(role)
        if members is None:
            return
        members.append(writer)
        writer.write(b"ok\n")
        try:
            if role == b"caller":
                while True:
                    line = await reader.readuntil(b"\n")
                    _send(workers[next(turn) % len(workers)], line)
            elif role == b"worker":
                while True:
                    line = await reader.readuntil(b"\n")
                    if callers:
                        _send(callers[-1], line)
            elif role == b"pub":
                while True:
                    line = await reader.readuntil(b"\n")
                    for sub in subs:
                        _send(sub, line)
            else:
                await reader.read()  # a sub only listens: wait for it to leave
        finally:
            members.remove(writer)

    async with _serving(relay) as address:
        yield address


async def _open(
    address: str, role: bytes | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = split_address(address)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, limit=LIMIT), DEADLINE_S
    )
    if role is not None:
        writer.write(role + b"\n")
        answer = await asyncio.wait_for(reader.readuntil(b"\n"), DEADLINE_S)
        if answer != b"ok\n":
            raise RuntimeError(f"the relay at {address} refused role {role!r}: {answer!r}")
    return reader, writer


class RawCaller:
    """Request/reply over one connection, to an echo server (``role=None``) or to the
    relay as its ``caller``. Open with :meth:`open`, close with :meth:`aclose`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._waiting: deque[asyncio.Future[bytes]] = deque()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, address: str, role: bytes | None = None) -> RawCaller:
        return cls(*await _open(address, role))

    async def _read(self) -> None:
        reader, waiting = self._reader, self._waiting
        try:
            while True:
                line = await reader.readuntil(b"\n")
                fut = waiting.popleft()
                if not fut.done():
                    fut.set_result(line)
        except (asyncio.IncompleteReadError, ConnectionError, IndexError) as exc:
            # the peer left (or answered what was never asked): fail whoever waits
            while waiting:
                fut = waiting.popleft()
                if not fut.done():
                    fut.set_exception(ConnectionError(f"the raw peer went away: {exc!r}"))

    async def request(self, line: bytes) -> bytes:
        """Send ``line`` and return the reply; TimeoutError after ``DEADLINE_S``."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        self._writer.write(line)
        await self._writer.drain()

        def expire() -> None:
            if not fut.done():
                fut.set_exception(TimeoutError("no reply from the raw peer"))

        handle = asyncio.get_running_loop().call_later(DEADLINE_S, expire)
        try:
            return await fut
        finally:
            handle.cancel()

    async def send(self, line: bytes) -> None:
        """Send ``line`` without waiting for anything back (a ``pub`` connection)."""
        self._writer.write(line)
        await self._writer.drain()

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)


@contextlib.asynccontextmanager
async def raw_workers(address: str, count: int) -> AsyncIterator[None]:
    """``count`` relay workers that echo every line back; all registered on entry."""
    conns = [await _open(address, b"worker") for _ in range(count)]

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                writer.write(await reader.readuntil(b"\n"))
                await writer.drain()

    tasks = [asyncio.get_running_loop().create_task(echo(r, w)) for r, w in conns]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, writer in conns:
            writer.close()


class RawSubscriber:
    """A relay ``sub`` connection that calls ``on_line()`` for every line it reads."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_line: Callable[[], None],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_line = on_line
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, address: str, on_line: Callable[[], None]) -> RawSubscriber:
        return cls(*await _open(address, b"sub"), on_line)

    async def _read(self) -> None:
        reader, on_line = self._reader, self._on_line
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(b"\n")
                on_line()

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._writer.close()
