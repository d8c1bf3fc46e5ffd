"""The event stream: Server-Sent Events carrying batches of Signals to one browser tab.

Events, each a single ``data:`` line of compact JSON:

``hello``
    ``{"namespace", "synapse", "version", "feed_items", "history"}``, sent first.
``replay``
    ``{"signals": [...]}``: what happened before the tab connected (participants and
    recent history). The page shows them but leaves them out of rates.
``signals``
    ``{"signals": [...], "dropped": n}``: live Signals, oldest first. ``dropped`` is
    how many Signals this tab has lost so far because it did not keep up (cumulative).
``stats``
    The hub's counters (:meth:`SignalHub.stats`) plus ``feed_dropped``, this tab's own
    losses; sent at least every ``stats_interval_s``, which doubles as the keep-alive.

Sends are batched: after the first Signal arrives the writer waits ``batch_interval_s``
for more, then sends up to ``max_batch_items`` Signals or ``max_batch_bytes`` bytes in one
event. The stream ends when the tab disconnects or the hub closes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import orjson
from starlette.types import Receive, Scope, Send

from .exceptions import TooManyViewersError
from .hub import SignalHub, ViewerFeed

__all__ = ["EventStream"]

_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


class EventStream:
    """The ASGI endpoint serving ``GET /events`` from a :class:`SignalHub`.

    It takes no parameters from the request: what it streams is fixed when the hub is
    built, so no URL can point it at another synapse or namespace.
    """

    def __init__(
        self,
        hub: SignalHub,
        *,
        version: str,
        batch_interval_s: float = 0.05,
        max_batch_items: int = 2000,
        max_batch_bytes: int = 1024 * 1024,
        stats_interval_s: float = 1.0,
    ) -> None:
        self.hub = hub
        self.version = version
        self.batch_interval_s = batch_interval_s
        self.max_batch_items = max_batch_items
        self.max_batch_bytes = max_batch_bytes
        self.stats_interval_s = stats_interval_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, "method not allowed", [(b"allow", b"GET, HEAD")])
            return
        if method == "HEAD":
            await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            feed = self.hub.attach()
        except TooManyViewersError as exc:
            await _plain(send, 503, str(exc), [(b"retry-after", b"10")])
            return
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
                await self._write(feed, send)
                tg.cancel_scope.cancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the tab went away mid-send; nothing to tell anyone
        finally:
            self.hub.detach(feed)

    async def _write(self, feed: ViewerFeed, send: Send) -> None:
        hub = self.hub

        async def event(name: str, data: bytes) -> None:
            await send(
                {
                    "type": "http.response.body",
                    "body": b"event: " + name.encode() + b"\ndata: " + data + b"\n\n",
                    "more_body": True,
                }
            )

        # `retry:` tells EventSource how long to wait before reconnecting.
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        await event(
            "hello",
            orjson.dumps(
                {
                    "namespace": hub.namespace,
                    "synapse": hub.synapse.url,
                    "version": self.version,
                    "feed_items": hub.feed_items,
                    "history": hub.history,
                }
            ),
        )
        replay, feed.replay = feed.replay, []
        for chunk in _chunks(replay, self.max_batch_items, self.max_batch_bytes):
            await event("replay", _batch(chunk, None))
        await event("stats", self._stats(feed))
        last_stats = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(self.stats_interval_s):
                    ready = await feed.wait()
            except TimeoutError:
                ready = False
            if feed.closed and not ready:
                break
            if ready and len(feed) < self.max_batch_items and not feed.closed:
                await asyncio.sleep(self.batch_interval_s)  # let a batch form
            frames = feed.take(max_items=self.max_batch_items, max_bytes=self.max_batch_bytes)
            if frames:
                await event("signals", _batch(frames, feed.dropped))
            now = time.monotonic()
            if now - last_stats >= self.stats_interval_s:
                await event("stats", self._stats(feed))
                last_stats = now

    def _stats(self, feed: ViewerFeed) -> bytes:
        stats: dict[str, Any] = self.hub.stats()
        stats["feed_dropped"] = feed.dropped
        return orjson.dumps(stats)


def _batch(frames: list[bytes], dropped: int | None) -> bytes:
    # The frames are already compact JSON objects; splice them instead of re-parsing.
    head = b'{"signals":[' if dropped is None else b'{"dropped":%d,"signals":[' % dropped
    return head + b",".join(frames) + b"]}"


def _chunks(frames: list[bytes], max_items: int, max_bytes: int) -> list[list[bytes]]:
    out: list[list[bytes]] = []
    chunk: list[bytes] = []
    size = 0
    for frame in frames:
        if chunk and (len(chunk) >= max_items or size + len(frame) > max_bytes):
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(frame)
        size += len(frame)
    if chunk:
        out.append(chunk)
    return out


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _plain(
    send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = f"{status} {text}\n".encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
