"""Prism on a recording: ``cosmo prism --recording run.jsonl`` serves the Signals a
``cosmo record`` wrote (docs/observability/recordings.md) to the page as if they crossed a
live bus.

The hub is the one Prism always runs; only its synapse differs. :class:`RecordingSynapse`
is a bus of this process with nobody else on it: the recording is played into it, each
frame handed to the hub's subscription in file order and awaited, so none is dropped and
none is reordered. By default the whole recording is played before the page is served and
the hub keeps all of it as its history (up to :data:`MAX_SIGNALS`), so every tab opened
later receives all of it at once. With ``speed`` the page is served first and the frames
follow their recorded spacing divided by ``speed``, as a live run would.

The file is read as every reader of a recording reads it: line by line, up to the first
damaged line (cut mid-way, not JSON, without ``t`` or ``subject``, an invalid Signal);
what came before is served and one stderr line says where reading stopped.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from cosmonapse import Subscription, Synapse
from cosmonapse.recording import read_frames
from cosmonapse.subjects import validate_namespace
from cosmonapse.synapses import MessageHandler

from .hub import DEFAULT_HISTORY
from .server import DEFAULT_PORT, PrismServer

__all__ = ["MAX_SIGNALS", "Recorded", "RecordingSynapse", "read_recording", "serve_recording"]

MAX_SIGNALS = 100_000
"""The most Signals of a recording Prism serves (the first ones of the file)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One frame of a recording: arrival time, subject, the Signal's bytes."""

    t: float
    subject: str
    data: bytes


def read_recording(path: str | Path) -> tuple[list[Recorded], str | None]:
    """The frames of the recording up to any damage (read by :mod:`cosmonapse.recording`,
    as every reader of a recording does), and the line saying where it stopped (None when
    the whole file was read). Raises OSError when it cannot be read."""
    frames, damage = read_frames(path)
    recorded = [Recorded(f.t, f.subject, f.signal.encode()) for f in frames]
    return recorded, None if damage is None else str(damage)


def namespace_of(subject: str) -> str | None:
    parts = subject.split(".", 2)
    return parts[1] if len(parts) >= 2 and parts[1] else None


class _Sub(Subscription):
    def __init__(self, owner: RecordingSynapse, subject: str, handler: MessageHandler) -> None:
        self.subject = subject
        self.queue_group = None
        self.handler = handler
        self._owner = owner

    def matches(self, subject: str) -> bool:
        if self.subject.endswith(".>"):
            return subject.startswith(self.subject[:-1])
        return subject == self.subject

    async def unsubscribe(self) -> None:
        self._owner.forget(self)


class RecordingSynapse(Synapse):
    """A bus only this process uses: :meth:`publish` hands the frame to each matching
    subscription's handler and waits for it (a ``>``-ending subject matches by prefix,
    any other subject exactly), so a recording played into it reaches Prism whole."""

    def __init__(self, path: str | Path) -> None:
        self.url = f"recording:{path}"
        self._subs: list[_Sub] = []
        self._closed = False
        self._published = 0

    async def publish(self, subject: str, data: bytes) -> None:
        self._published += 1
        for sub in list(self._subs):
            if sub.matches(subject):
                result = sub.handler(subject, data)
                if inspect.isawaitable(result):
                    await result

    async def subscribe(
        self, subject: str, handler: MessageHandler, *, queue_group: str | None = None
    ) -> Subscription:
        sub = _Sub(self, subject, handler)
        self._subs.append(sub)
        return sub

    def forget(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    async def close(self) -> None:
        self._closed = True
        self._subs.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> dict[str, int]:
        return {"published": self._published, "delivered": self._published, "dropped": 0}


async def _play(bus: RecordingSynapse, frames: list[Recorded], speed: float | None) -> None:
    started = time.monotonic()
    for frame in frames:
        if speed is not None:
            delay = started + (frame.t - frames[0].t) / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await bus.publish(frame.subject, frame.data)


async def serve_recording(
    path: str | Path,
    *,
    namespace: str | None = None,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    speed: float | None = None,
    ready: asyncio.Future[str] | None = None,
) -> None:
    """Serve Prism for the recording at ``path`` until cancelled: the Signals of
    ``namespace`` (default: the namespace of the file's first Signal). Without ``speed``
    the whole recording is in the page as soon as it opens; with it, it plays in time.
    Raises OSError when the file cannot be read, ValueError when it holds no Signal of
    the namespace."""
    frames, damage = read_recording(path)
    if damage is not None:
        print(f"warning: {damage}", file=sys.stderr, flush=True)
    if namespace is None:
        namespace = next((ns for f in frames if (ns := namespace_of(f.subject))), None)
        if namespace is None:
            raise ValueError(f"{path} holds no Signal to show")
    validate_namespace(namespace)
    mine = [f for f in frames if namespace_of(f.subject) == namespace][:MAX_SIGNALS]
    if not mine:
        raise ValueError(f"{path} holds no Signal of namespace {namespace}")
    bus = RecordingSynapse(path)
    server = PrismServer(
        bus,
        namespace,
        port=port,
        open_browser=open_browser,
        owns_synapse=True,
        history=max(len(mine), DEFAULT_HISTORY),
    )
    player: Awaitable[None] | None = None
    try:
        await server.hub.start()
        if speed is None:
            await _play(bus, mine, None)
        await server.start()
        print(
            f"Prism: {server.url}  (recording {path}: {len(mine)} Signals of namespace "
            f"{namespace})",
            flush=True,
        )
        print("Press Ctrl-C to stop.", flush=True)
        if ready is not None and not ready.done():
            ready.set_result(server.url)
        if speed is not None:
            player = asyncio.ensure_future(_play(bus, mine, speed))
        await server.wait_closed()
    finally:
        if isinstance(player, asyncio.Future):
            player.cancel()
        await server.aclose()
        await bus.close()
