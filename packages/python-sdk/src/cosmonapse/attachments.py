"""Handles a Dendrite gives back: :class:`Attachment` (an Axon or Engram it hosts) and
:class:`HandlerSubscription` (a handler it calls).

Both can be awaited and undone. Attaching to a Dendrite that is not running yet only
records the participant (it is subscribed and announced by ``start()``), so awaiting the
handle returns at once; on a running Dendrite the subscriptions and the REGISTER are made
in the background, and awaiting the handle waits for them and raises what failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

from ._deprecation import warn_deprecated
from .synapses.base import Subscription

__all__ = ["Attachment", "HandlerSubscription"]

P = TypeVar("P")


class Attachment(Generic[P]):
    """An Axon or Engram attached to a Dendrite: ``await`` it to know it is subscribed and
    announced (it returns the participant), :meth:`detach` to stop hosting it.

    ``participant`` is the Axon or Engram. Reading one of its attributes on the handle
    itself still works, as when ``attach_axon`` returned the Axon, with a
    DeprecationWarning.
    """

    __slots__ = ("_detach", "_ready", "participant")

    def __init__(
        self,
        participant: P,
        ready: asyncio.Future[None] | None,
        detach: Callable[[], Awaitable[None]],
    ) -> None:
        self.participant = participant
        self._ready = ready
        self._detach = detach

    def __await__(self) -> Generator[Any, None, P]:
        if self._ready is not None:
            yield from asyncio.shield(self._ready).__await__()
        return self.participant

    @property
    def ready(self) -> bool:
        """True once the participant is subscribed and announced (or will be by start())."""
        return self._ready is None or (self._ready.done() and not self._ready.exception())

    async def detach(self) -> None:
        """Stop hosting the participant: DEREGISTER it and leave its capability group.
        Its runs in flight go on to their end. Idempotent."""
        await self._detach()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warn_deprecated(
            f"reading {name!r} on what attach_axon/attach_engram return is deprecated: they "
            f"return an Attachment; read it on .participant (or on what awaiting it returns)"
        )
        return getattr(self.participant, name)

    def __repr__(self) -> str:
        state = "ready" if self.ready else "pending"
        return f"<Attachment {self.participant!r} {state}>"


class HandlerSubscription(Subscription):
    """A handler :meth:`Dendrite.subscribe <cosmonapse.Dendrite.subscribe>` calls;
    :meth:`unsubscribe` stops calling it (idempotent).

    ``transport`` is the handler's own transport subscription when it was given a queue
    group, else None (it shares the Dendrite's subscription to its Signal type).
    """

    __slots__ = ("_remove", "queue_group", "subject", "transport")

    def __init__(
        self,
        subject: str,
        queue_group: str | None,
        remove: Callable[[], Awaitable[None]],
        transport: Subscription | None = None,
    ) -> None:
        self.subject = subject
        self.queue_group = queue_group
        self.transport = transport
        self._remove: Callable[[], Awaitable[None]] | None = remove

    async def unsubscribe(self) -> None:
        remove, self._remove = self._remove, None
        if remove is not None:
            await remove()

    def __repr__(self) -> str:
        group = f" queue_group={self.queue_group!r}" if self.queue_group else ""
        return f"<HandlerSubscription {self.subject!r}{group}>"
