"""One subscription of a :class:`~cosmonapse.synapses.nats.NatsSynapse`: its handler runs
on nats-py's per-subscription task (docs/transports/nats.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as ClientSubscription

from .base import MessageHandler, Subscription, log_handler_error

Spawn = Callable[[Coroutine[object, object, None], str], None]
"""``spawn(coroutine, name)``: run it as a task the synapse owns."""


class NatsSubscription(Subscription):
    """One NATS subscription; its handler runs on nats-py's per-subscription task."""

    __slots__ = (
        "_accept",
        "_forget",
        "_handler",
        "_spawn",
        "client_sub",
        "closed",
        "delivered",
        "dropped",
        "queue_group",
        "subject",
        "task",
    )

    def __init__(
        self,
        forget: Callable[[NatsSubscription], None],
        spawn: Spawn,
        subject: str,
        queue_group: str | None,
        handler: MessageHandler,
        accept: Callable[[Msg], bool] | None = None,
    ) -> None:
        self._forget = forget
        self._spawn = spawn
        self._accept = accept  # a transport-level filter (headers): see synapses/jetstream.py
        self.subject = subject
        self.queue_group = queue_group
        self._handler = handler
        self.client_sub: ClientSubscription | None = None  # set once the server has it
        self.task: asyncio.Task[object] | None = None  # the task delivering to the handler
        self.closed = False
        self.delivered = 0
        self.dropped = 0

    async def deliver(self, msg: Msg) -> None:
        # Remember which task delivers, so unsubscribe() from inside the handler can tell.
        self.task = asyncio.current_task()
        if self.closed or (self._accept is not None and not self._accept(msg)):
            return
        try:
            result = self._handler(msg.subject, msg.data)
            if result is not None:
                await result
        except Exception as exc:  # a handler error is never fatal
            log_handler_error(msg.subject, exc)
        self.delivered += 1
        if self.closed:
            # The handler unsubscribed. nats-py ends a subscription by cancelling its
            # delivery task, so that happens from another task, which runs only once
            # this one waits for the next message: the handler is never cut short.
            self._spawn(self.remove(), f"cosmonapse-nats-unsub:{self.subject}")

    def deliver_now(self, subject: str, data: bytes) -> None:
        """:meth:`deliver` for a plain handler, called from the client's read loop
        (``_nats_client.py``); a handler that returns an awaitable has it run aside."""
        if self.closed:
            return
        try:
            result = self._handler(subject, data)
            if result is not None:  # a plain function that returned an awaitable
                self._spawn(_guarded(subject, result), f"cosmonapse-nats:{self.subject}")
        except Exception as exc:  # a handler error is never fatal
            log_handler_error(subject, exc)
        self.delivered += 1

    async def unsubscribe(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._forget(self)
        if asyncio.current_task() is not self.task:
            await self.remove()
        # else: called from this subscription's own handler; deliver() finishes the job

    async def remove(self) -> None:
        """End the subscription on the server (a no-op once the connection is gone)."""
        sub = self.client_sub
        if sub is None:
            return
        # If the connection is going away, the subscription goes with it.
        with contextlib.suppress(
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionDrainingError,
            nats.errors.BadSubscriptionError,
        ):
            await sub.unsubscribe()


async def _guarded(subject: str, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception as exc:
        log_handler_error(subject, exc)
