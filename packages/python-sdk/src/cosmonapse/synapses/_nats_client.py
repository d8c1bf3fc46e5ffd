"""The nats-py client of a :class:`~cosmonapse.synapses.nats.NatsSynapse`, with one
shortcut: a message for a subscription whose handler is a plain function goes to that
handler straight from the client's read loop.

nats-py hands every message of a callback subscription to a queue, and a task per
subscription awaits the callback for each one: per message a ``Msg`` object, a queue
put and get, a coroutine for the callback and often a wake-up of that task. A plain
handler (the Dendrite's) only schedules work and returns at once, so it needs none of
that: :meth:`DirectClient.deliver_directly` registers it, and messages for it skip the
queue. It is what the dev synapse's client does too (``_inbox.py``).

Publishing: :meth:`DirectClient.queue_now` appends a plain PUB (no reply subject, no
headers) to the client's pending buffer and wakes its flusher, what ``Client.publish``
does while connected, without its coroutines; it declines whenever that path would
wait or fail, and the frame then takes ``Client.publish``.

Nothing else changes. Such a subscription is made with its callback as usual, so if a
nats-py release stopped routing messages through the method overridden here, messages
would simply take the queue again. Messages of every other subscription (``async def``
handlers, JetStream's, nats-py's own request inbox) take nats-py's path unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import cast

from nats.aio.client import Client
from nats.aio.subscription import Subscription as ClientSubscription
from nats.protocol.command import pub_cmd

DirectHandler = Callable[[str, bytes], None]
"""``handle(subject, data)``: called from the read loop; must return promptly."""


# What queue_now reads and writes of nats-py's Client; without any of them (a release
# that changed its publish path) queue_now declines and every frame takes Client.publish.
_PUBLISH_STATE = (
    "_pending",
    "_pending_data_size",
    "_max_pending_size",
    "_flush_queue",
    "_flusher_task",
    "stats",
)


class DirectClient(Client):
    """A nats-py ``Client`` that delivers the messages of registered subscriptions to
    their plain handlers without queueing them, and queues a plain PUB without a
    coroutine (:meth:`queue_now`)."""

    def __init__(self) -> None:
        super().__init__()
        self.direct: dict[int, DirectHandler] = {}  # subscription id -> handler
        self._queues_directly = all(hasattr(self, name) for name in _PUBLISH_STATE)
        self._kick: asyncio.Future[None] | None = None

    def queue_now(self, subject: str, data: bytes) -> bool:
        """Queue a PUB of ``data`` on ``subject`` (checked by the caller, and at most the
        server's ``max_payload``) for the flusher, as ``Client.publish`` does while
        connected, without its three coroutines. False, and nothing is queued, when that
        path would have to wait or fail: not connected, draining, no running flusher,
        or the pending buffer full (``Client.publish`` then flushes and waits)."""
        if not self._queues_directly or not self.is_connected or self.is_draining_pubs:
            return False
        flusher = self._flusher_task
        queue = self._flush_queue
        if flusher is None or flusher.done() or queue is None:
            return False
        command = pub_cmd(subject, "", data)
        size = self._pending_data_size + len(command)
        if 0 < self._max_pending_size < size:
            return False
        stats = self.stats
        stats["out_msgs"] += 1
        stats["out_bytes"] += len(data)
        self._pending.append(command)
        self._pending_data_size = size
        if queue.empty():  # wake the flusher, as Client.publish does, with a settled future
            kick = self._kick
            if kick is None:
                kick = self._kick = asyncio.get_running_loop().create_future()
                kick.set_result(None)
            queue.put_nowait(kick)
        return True

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
