"""The nats-py client of a :class:`~cosmonapse.synapses.nats.NatsSynapse`, with one
shortcut: a message for a subscription whose handler is a plain function goes to that
handler straight from the client's read loop.

nats-py hands every message of a callback subscription to a queue, and a task per
subscription awaits the callback for each one: per message a ``Msg`` object, a queue
put and get, a coroutine for the callback and often a wake-up of that task. A plain
handler (the Dendrite's) only schedules work and returns at once, so it needs none of
that: :meth:`DirectClient.deliver_directly` registers it, and messages for it skip the
queue. It is what the dev synapse's client does too (``_inbox.py``).

Nothing else changes. Such a subscription is made with its callback as usual, so if a
nats-py release stopped routing messages through the method overridden here, messages
would simply take the queue again. Messages of every other subscription (``async def``
handlers, JetStream's, nats-py's own request inbox) take nats-py's path unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import cast

from nats.aio.client import Client
from nats.aio.subscription import Subscription as ClientSubscription

DirectHandler = Callable[[str, bytes], None]
"""``handle(subject, data)``: called from the read loop; must return promptly."""


class DirectClient(Client):
    """A nats-py ``Client`` that delivers the messages of registered subscriptions to
    their plain handlers without queueing them."""

    def __init__(self) -> None:
        super().__init__()
        self.direct: dict[int, DirectHandler] = {}  # subscription id -> handler

    def deliver_directly(self, sub: ClientSubscription, handle: DirectHandler) -> bool:
        """Send the messages of ``sub`` (a subscription of this client) to ``handle``
        from the read loop from now on. False, and nothing changes, when ``sub`` is not
        found among this client's subscriptions."""
        for sid, known in self._subs.items():
            if known is sub:
                self.direct[sid] = handle
                return True
        return False

    def forget(self, sub: ClientSubscription) -> None:
        """Stop delivering ``sub`` directly (it is ending)."""
        for sid, known in self._subs.items():
            if known is sub:
                self.direct.pop(sid, None)
        # an id nats-py has already dropped: find it by elimination
        for sid in [s for s in self.direct if s not in self._subs]:
            del self.direct[sid]

    def _process_msg(  # type: ignore[override]  # returns an awaitable, as awaited
        self,
        sid: int,
        subject: bytes,
        reply: bytes,
        data: bytes,
        headers: bytes,  # None for a message without headers (typed bytes upstream)
    ) -> Awaitable[None]:
        # A plain def: nats-py awaits what it returns, and a direct delivery then costs
        # no coroutine; every other message gets nats-py's own coroutine, unwrapped.
        handle = self.direct.get(sid)
        if handle is None or sid not in self._subs:
            return super()._process_msg(sid, subject, reply, data, headers)
        stats = self.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handle(subject.decode(), data)
        return DONE


class _Done:
    """An awaitable that is already done (awaiting it gives None at once)."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return cast(Generator[None, None, None], iter(()))  # an empty iterator will do


DONE = _Done()
