"""The Synapse interface every transport implements.

A Synapse moves opaque frames (the UTF-8 JSON of one Signal) between subjects. It knows
nothing of Signals, Dendrites or traces; that keeps each transport small and lets the
shared contract suite run unchanged against all of them.

Delivery contract, for every transport:

* ``handler(subject, data)`` gets one message at a time per subscription, in the order
  the transport received them. An ``async def`` handler is awaited. A transport whose
  :attr:`Synapse.plain_handlers` is true also takes a plain function, which it may call
  straight from its read loop (the dev and NATS clients do); it must return promptly and
  must not block. No transport runs a handler inside the sender's ``await publish``: the
  memory synapse delivers on a later turn of the event loop, in publish order. Either way
  the Dendrite only schedules work in its handlers and never runs user code inline
  (docs/protocol.md section 5).
* A handler that raises is logged and the subscription keeps going.
* Each subscription buffers at most ``max_pending`` messages; past that the transport drops
  new ones for that subscription only and counts them in ``stats["dropped"]``. Delivery is
  at-most-once on every built-in transport.
* ``close()`` stops every subscription and cancels the tasks the Synapse owns; it is
  idempotent.

An in-process transport may also be a :class:`ParcelCarrier`: besides frames it carries
*parcels*, immutable objects that render their frame on demand (the Dendrite's are
snapshots of Signals, see ``cosmonapse._snapshot``). A subscriber that asks for parcels
gets them as they are; every other subscriber gets the parcel's frame, rendered once.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import ClassVar, Protocol

__all__ = [
    "DEFAULT_MAX_PENDING",
    "MessageHandler",
    "Parcel",
    "ParcelCarrier",
    "ParcelHandler",
    "Subscription",
    "Synapse",
]

MessageHandler = Callable[[str, bytes], Awaitable[None] | None]
"""``async def handler(subject: str, data: bytes) -> None``, or, on a transport with
:attr:`Synapse.plain_handlers`, a plain ``def`` with the same arguments."""


class Parcel(Protocol):
    """What a :class:`ParcelCarrier` carries instead of a frame: immutable once
    published, it renders its frame on demand (the same bytes every time)."""

    def frame(self) -> bytes:
        """The frame this parcel stands for."""
        ...


ParcelHandler = Callable[[str, "bytes | Parcel"], Awaitable[None] | None]
"""A handler that takes parcels as well as frames (see :class:`ParcelCarrier`)."""

DEFAULT_MAX_PENDING = 65_536
"""Messages buffered per subscription before new ones are dropped."""

log = logging.getLogger("cosmonapse.synapse")


class Subscription(abc.ABC):
    """A live subscription; :meth:`unsubscribe` ends it (idempotent)."""

    subject: str
    queue_group: str | None

    @abc.abstractmethod
    async def unsubscribe(self) -> None:
        """Stop delivery to this subscription's handler."""


class Synapse(abc.ABC):
    """A message bus: publish frames on subjects, subscribe with wildcards and queue groups.

    Use as an async context manager, or call :meth:`close` when done.
    """

    url: str = ""
    """Where this Synapse is connected (credentials removed)."""

    max_frame_bytes: int | None = None
    """The largest frame the transport accepts, or ``None`` when it sets no limit."""

    plain_handlers: ClassVar[bool] = False
    """True when :meth:`subscribe` also takes a plain-function handler (see the module
    docstring). Callers that have one wrap it in a coroutine for transports without it."""

    @abc.abstractmethod
    async def publish(self, subject: str, data: bytes) -> None:
        """Send one frame to ``subject`` (no wildcards).

        Raises :class:`~cosmonapse.SubjectError` for an invalid subject,
        :class:`~cosmonapse.FrameTooLargeError` past the frame limit,
        :class:`~cosmonapse.SynapseClosedError` after close.
        """

    def post(self, subject: str, data: bytes) -> Awaitable[None] | None:
        """:meth:`publish` for hot paths: None when the frame was queued at once, with no
        coroutine, or else the awaitable that finishes sending it (await it at once).
        Raises what ``publish`` raises, now or when awaited.

        This default returns ``publish``'s coroutine. A transport that can often queue a
        frame without waiting (the NATS and dev clients, while connected) overrides it."""
        return self.publish(subject, data)

    @abc.abstractmethod
    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        """Deliver every frame whose subject matches ``subject`` to ``handler``.

        With a ``queue_group``, each frame goes to exactly one member of that group;
        subscribers outside any group each receive every matching frame.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """End every subscription and release the connection. Idempotent."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """True once :meth:`close` has run."""

    @property
    def stats(self) -> dict[str, int]:
        """Counters: at least ``published``, ``delivered`` and ``dropped``."""
        return {}

    async def __aenter__(self) -> Synapse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.url!r} {state}>"


class ParcelCarrier(abc.ABC):
    """A Synapse that can also carry :class:`Parcel` objects (in process only).

    :meth:`publish_parcel` delivers like ``publish`` does: to a subscription made with
    :meth:`subscribe_parcels` the parcel itself, to any other its frame. Limits apply to
    the frame: a carrier with a frame limit renders the frame at publish to check it.
    """

    @abc.abstractmethod
    def publish_parcel(self, subject: str, parcel: Parcel) -> None:
        """Queue ``parcel`` for every subscription ``subject`` reaches, as ``publish``
        would its frame (same errors); never runs a handler."""

    @abc.abstractmethod
    async def subscribe_parcels(
        self,
        subject: str,
        handler: ParcelHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        """``subscribe`` for a handler that takes parcels as they are (frames published
        as bytes still arrive as bytes)."""


def log_handler_error(subject: str, exc: BaseException) -> None:
    """Log a handler failure once, with its traceback, and carry on."""
    log.error("handler for %s raised %s: %s", subject, type(exc).__name__, exc, exc_info=exc)
