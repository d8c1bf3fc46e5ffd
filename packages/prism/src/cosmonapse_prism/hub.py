"""The hub: one subscription to one namespace, fanned out to every open browser tab.

The hub subscribes once to ``cosmonapse.<namespace>.>`` on the synapse it was given,
decodes each frame with :meth:`cosmonapse.Signal.decode` (frames that fail are skipped and
counted, never passed on), re-encodes it compactly with two more fields, ``prism_from`` and
``prism_to`` (the Signal's route by :func:`cosmonapse.route_of`, from a
:class:`cosmonapse.RouteCache` of recent Signals, so the page and ``cosmo doppler`` name the
same two ends), and pushes the bytes into every viewer's :class:`ViewerFeed`.

Memory stays bounded whatever the traffic or the number of tabs:

* each feed holds at most ``max_items`` frames and ``max_bytes`` bytes; past either bound
  it drops the *oldest* frames and counts them, so a tab that falls behind sees the newest
  Signals and is told how many it missed;
* a short history (the last ``history`` Signals) plus the latest REGISTER of every live
  participant is replayed to a tab when it connects, so a page opened late still knows
  who is on the bus;
* a Signal larger than ``max_signal_bytes`` is passed on as its envelope with an empty
  payload and a ``prism_truncated`` field giving the original size;
* at most ``max_viewers`` feeds exist at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from typing import Any

import orjson
from cosmonapse import EnvelopeError, Route, RouteCache, Signal, SignalType, Subscription, Synapse
from cosmonapse.subjects import namespace_wildcard, validate_namespace

from .exceptions import TooManyViewersError

__all__ = ["SignalHub", "ViewerFeed"]

log = logging.getLogger("cosmonapse.prism")

DEFAULT_FEED_ITEMS = 4096
DEFAULT_FEED_BYTES = 16 * 1024 * 1024
DEFAULT_HISTORY = 1000
DEFAULT_MAX_VIEWERS = 32
DEFAULT_MAX_SIGNAL_BYTES = 256 * 1024
_MAX_MEMBERS = 1024  # participants whose REGISTER is kept for replay
_MAX_REASON = 200  # characters kept of the last decode error


def _frame(envelope: dict[str, Any], route: Route) -> bytes:
    """The bytes sent to the page: the envelope plus its route."""
    envelope["prism_from"] = route.sender
    envelope["prism_to"] = route.receiver
    return orjson.dumps(envelope)


class ViewerFeed:
    """The bounded queue of encoded Signals waiting to be sent to one browser tab.

    :meth:`push` never blocks and never grows the queue past ``max_items`` frames or
    ``max_bytes`` bytes: the oldest frames go first, counted in :attr:`dropped`.
    One frame is always kept even when it alone exceeds ``max_bytes``.
    """

    __slots__ = (
        "_bytes",
        "_items",
        "_max_bytes",
        "_max_items",
        "_ready",
        "closed",
        "dropped",
        "replay",
        "sent",
    )

    def __init__(self, *, max_items: int, max_bytes: int, replay: list[bytes]) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("a viewer feed needs room for at least one frame")
        self._items: deque[bytes] = deque()
        self._bytes = 0
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._ready = asyncio.Event()
        self.replay = replay
        """Frames to send before the live ones (history at connect time)."""
        self.dropped = 0
        """Frames discarded because this tab did not keep up."""
        self.sent = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def push(self, frame: bytes) -> None:
        """Queue ``frame``, dropping the oldest queued frames past either bound."""
        if self.closed:
            return
        items = self._items
        items.append(frame)
        self._bytes += len(frame)
        while len(items) > 1 and (len(items) > self._max_items or self._bytes > self._max_bytes):
            self._bytes -= len(items.popleft())
            self.dropped += 1
        self._ready.set()

    def take(self, *, max_items: int, max_bytes: int) -> list[bytes]:
        """Remove and return the oldest frames, at most ``max_items`` of them and at most
        ``max_bytes`` bytes in total (but always at least one frame when any is queued)."""
        items = self._items
        out: list[bytes] = []
        size = 0
        while items and len(out) < max_items:
            nxt = len(items[0])
            if out and size + nxt > max_bytes:
                break
            out.append(items.popleft())
            size += nxt
        self._bytes -= size
        self.sent += len(out)
        if not items and not self.closed:
            self._ready.clear()
        return out

    async def wait(self) -> bool:
        """Wait until a frame is queued or the feed closes (callers bound it with a
        timeout). Returns True when frames are queued, False when closed and empty."""
        if not self._items and not self.closed:
            await self._ready.wait()
        return bool(self._items)

    def close(self) -> None:
        """Stop accepting frames and wake the writer so it can finish."""
        self.closed = True
        self._ready.set()


class SignalHub:
    """Watches one namespace of one synapse and feeds every connected viewer.

    Call :meth:`start` once (it subscribes), :meth:`aclose` when done (it unsubscribes and
    ends every feed; it does not close the synapse, which belongs to the caller).
    """

    def __init__(
        self,
        synapse: Synapse,
        namespace: str,
        *,
        feed_items: int = DEFAULT_FEED_ITEMS,
        feed_bytes: int = DEFAULT_FEED_BYTES,
        history: int = DEFAULT_HISTORY,
        max_viewers: int = DEFAULT_MAX_VIEWERS,
        max_signal_bytes: int = DEFAULT_MAX_SIGNAL_BYTES,
    ) -> None:
        if not isinstance(synapse, Synapse):
            raise TypeError(f"expected a cosmonapse Synapse, got {type(synapse).__name__}")
        if history < 0 or max_viewers < 1 or max_signal_bytes < 1024:
            raise ValueError("history must be >= 0, max_viewers >= 1 and max_signal_bytes >= 1024")
        self.synapse = synapse
        self.namespace = validate_namespace(namespace)
        self.subject = namespace_wildcard(namespace)
        self.feed_items = feed_items
        self.feed_bytes = feed_bytes
        self.max_viewers = max_viewers
        self.max_signal_bytes = max_signal_bytes
        self.history = history
        self._history: deque[tuple[str, bytes]] = deque(maxlen=history)
        self._members: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._feeds: set[ViewerFeed] = set()
        self._subscription: Subscription | None = None
        self._routes = RouteCache(max(history, DEFAULT_HISTORY) * 4)
        self._closed = False
        self.started_at = time.time()
        self.received = 0
        self.undecodable = 0
        self.truncated = 0
        self.last_undecodable: str | None = None
        self._dropped_by_gone = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the namespace. Raises whatever the synapse raises (closed, bad
        subject); calling it twice is a no-op."""
        if self._subscription is None:
            self._subscription = await self.synapse.subscribe(self.subject, self._on_frame)

    async def aclose(self) -> None:
        """Unsubscribe and end every feed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        sub, self._subscription = self._subscription, None
        for feed in list(self._feeds):
            feed.close()
        if sub is not None and not self.synapse.closed:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the synapse may be going away under us
                log.debug("unsubscribe from %s failed: %s", self.subject, exc)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- viewers -----------------------------------------------------------------------

    def attach(self) -> ViewerFeed:
        """A new feed for one viewer, primed with the replay (the latest REGISTER of each
        known participant, then the recent history, without duplicates).

        Raises :class:`TooManyViewersError` past ``max_viewers``.
        """
        if len(self._feeds) >= self.max_viewers:
            raise TooManyViewersError(
                f"this Prism already serves {self.max_viewers} viewers; close a tab first"
            )
        seen: set[str] = set()
        replay: list[bytes] = []
        for ident, frame in self._members.values():
            seen.add(ident)
            replay.append(frame)
        for ident, frame in self._history:
            if ident not in seen:
                replay.append(frame)
        feed = ViewerFeed(max_items=self.feed_items, max_bytes=self.feed_bytes, replay=replay)
        if self._closed:
            feed.close()
        self._feeds.add(feed)
        return feed

    def detach(self, feed: ViewerFeed) -> None:
        """Forget ``feed`` (its viewer left). Idempotent."""
        if feed in self._feeds:
            self._feeds.discard(feed)
            self._dropped_by_gone += feed.dropped
        feed.close()

    @property
    def viewers(self) -> int:
        return len(self._feeds)

    def stats(self) -> dict[str, Any]:
        """Counters for the page and for tests: ``received`` (decoded Signals),
        ``undecodable``, ``truncated``, ``dropped`` (over all feeds, past and present),
        ``viewers``, ``synapse_dropped`` (what the transport itself dropped),
        ``synapse_closed`` and ``last_undecodable`` (why the last bad frame was refused,
        or None)."""
        synapse_stats = self.synapse.stats
        return {
            "received": self.received,
            "undecodable": self.undecodable,
            "truncated": self.truncated,
            "dropped": self._dropped_by_gone + sum(f.dropped for f in self._feeds),
            "viewers": len(self._feeds),
            "synapse_dropped": int(synapse_stats.get("dropped", 0)),
            "synapse_closed": self.synapse.closed,
            "last_undecodable": self.last_undecodable,
        }

    # -- the subscription handler ------------------------------------------------------

    async def _on_frame(self, subject: str, data: bytes) -> None:
        # Runs once per frame, in order; it must stay quick and must never raise, so that
        # one bad frame cannot stop the stream.
        try:
            signal = Signal.decode(data)
        except EnvelopeError as exc:
            self.undecodable += 1
            self.last_undecodable = f"{subject}: {exc}"[:_MAX_REASON]
            return
        route = self._routes.route(signal)
        try:
            frame = _frame(signal.to_dict(), route)
        except TypeError as exc:  # decoded JSON always re-encodes; belt and braces
            self.undecodable += 1
            self.last_undecodable = f"{subject}: {exc}"[:_MAX_REASON]
            return
        if len(frame) > self.max_signal_bytes:
            frame = self._truncate(signal, len(frame), route)
        self.received += 1
        self._history.append((signal.id, frame))
        self._track_member(signal, frame)
        for feed in self._feeds:
            feed.push(frame)

    def _truncate(self, signal: Signal, size: int, route: Route) -> bytes:
        self.truncated += 1
        envelope = signal.to_dict()
        envelope["payload"] = {}
        envelope["meta"] = {}
        envelope["prism_truncated"] = size
        return _frame(envelope, route)

    def _track_member(self, signal: Signal, frame: bytes) -> None:
        kind = signal.type
        if kind is not SignalType.REGISTER and kind is not SignalType.DEREGISTER:
            return
        ident = signal.neuron
        if ident is None:
            return
        members = self._members
        members.pop(ident, None)
        if kind is SignalType.REGISTER:
            members[ident] = (signal.id, frame)
            while len(members) > _MAX_MEMBERS:
                members.popitem(last=False)
