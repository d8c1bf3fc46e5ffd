"""The asking side of IMPRINT and RECALL: publish a request and wait for its answer
(docs/protocol.md, "Engrams"). What the ``imprint`` / ``recall`` helpers of a Neuron use."""

from __future__ import annotations

from collections.abc import Callable

from ._outbox import Outbox
from ._subscriptions import Subscriptions
from ._traces import TraceBook
from ._waiters import Deadlines, ParentWaiters
from .exceptions import EngramTimeoutError
from .signal import Signal, SignalType


class EngramRequests:
    """Sends IMPRINT / RECALL for one Dendrite; answers are matched by ``parent_id``.

    Implements :class:`~cosmonapse.engram_binding.EngramTransport`.
    """

    __slots__ = ("_answers", "_deadlines", "_outbox", "_require_running", "_subs", "_traces")

    def __init__(
        self,
        outbox: Outbox,
        subs: Subscriptions,
        traces: TraceBook,
        answers: ParentWaiters,
        deadlines: Deadlines,
        require_running: Callable[[], None],
    ) -> None:
        self._outbox = outbox
        self._subs = subs
        self._traces = traces
        self._answers = answers
        self._deadlines = deadlines
        self._require_running = require_running

    async def request(
        self, signal: Signal, *, deadline_s: float, await_reply: bool
    ) -> Signal | None:
        """Publish an IMPRINT or RECALL and, when ``await_reply``, return its answer.

        Raises :class:`~cosmonapse.EngramTimeoutError` after ``deadline_s``.
        """
        self._require_running()
        answer_type = (
            SignalType.IMPRINTED if signal.type is SignalType.IMPRINT else SignalType.RECALLED
        )
        self._traces.stake(signal.trace_id)
        if not await_reply:
            await self._outbox.publish(signal)
            return None
        await self._subs.ensure(answer_type)
        fut = self._answers.expect(signal.id)
        try:
            await self._outbox.publish(signal)
            self._deadlines.watch(fut, deadline_s)
            reply = await fut
        except TimeoutError:
            target = signal.neuron or (signal.directed.type if signal.directed else None)
            raise EngramTimeoutError(
                f"{signal.type.value} to engram {target!r} got no {answer_type.value} within "
                f"{deadline_s * 1000:.0f} ms (is an Engram with that id attached to a running "
                "Dendrite?)"
            ) from None
        finally:
            if not fut.done():
                fut.cancel()
            self._answers.forget(signal.id)
        node = reply.meta.get("node")
        if isinstance(node, str):
            self._traces.stake(signal.trace_id, node)
        return reply
