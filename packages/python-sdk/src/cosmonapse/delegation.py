"""Agents that call agents: the ``call`` helper a Neuron declares to delegate inside the
trace it runs (docs/protocol.md section 6, "Delegation").

::

    async def planner(input, context, *, call):
        facts = await asyncio.gather(
            call(neuron="researcher", input={"topic": t}) for t in input["topics"]
        )
        return await call(capabilities=["write"], input={"facts": facts})

A child TASK has the parent's ``trace_id`` and ``parent_id`` = the TASK that delegates,
so a STOP of the trace (and its rollback) reaches every descendant on every Dendrite. The
child inherits what is left of the parent's deadline, and the trace's
:class:`~cosmonapse.TraceBudget` bounds depth, TASK count and tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .results import Reply
from .signal import Signal

__all__ = ["CallHelper", "ChildCall", "Delegator"]


@dataclass(frozen=True, slots=True)
class ChildCall:
    """What a Neuron asks of another agent: a neuron id or capabilities, the input, and
    optionally its own wait (never longer than the parent's deadline) and meta."""

    input: Mapping[str, Any]
    neuron: str | None = None
    capabilities: tuple[str, ...] = ()
    timeout_s: float | None = None
    meta: Mapping[str, Any] | None = None


class Delegator(Protocol):
    """What runs a :class:`ChildCall` for the Neuron running ``parent`` (the hosting
    Dendrite implements it)."""

    async def delegate(self, parent: Signal, child: ChildCall) -> Reply: ...


class CallHelper:
    """``await call(neuron=..., input=...)`` (or ``capabilities=[...]``): the child's
    output. A child ERROR raises :class:`~cosmonapse.TaskFailedError` with the child's
    code and message; no answer in time raises :class:`~cosmonapse.DispatchTimeoutError`;
    a trace over its budget raises :class:`~cosmonapse.TraceBudgetExceededError`.
    :meth:`reply` returns the whole :class:`~cosmonapse.Reply` instead, ERROR included.
    """

    __slots__ = ("_delegator", "_task")

    def __init__(self, delegator: Delegator | None, task: Signal) -> None:
        self._delegator = delegator
        self._task = task

    async def __call__(
        self,
        *,
        input: Mapping[str, Any],
        neuron: str | None = None,
        capabilities: Iterable[str] | None = None,
        timeout_s: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        reply = await self.reply(
            input=input, neuron=neuron, capabilities=capabilities, timeout_s=timeout_s, meta=meta
        )
        return reply.raise_for_error().output

    async def reply(
        self,
        *,
        input: Mapping[str, Any],
        neuron: str | None = None,
        capabilities: Iterable[str] | None = None,
        timeout_s: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Reply:
        """Delegate and return the child's Reply (an ERROR is returned, not raised)."""
        if self._delegator is None:
            raise RuntimeError(
                "call() needs the Axon to run on a Dendrite (attach it with attach_axon); "
                "a Neuron run by handle_task() alone cannot delegate"
            )
        caps = tuple(capabilities or ())
        if neuron is None and not caps:
            raise ValueError("call() needs neuron= or capabilities=")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        child = ChildCall(input, neuron, caps, timeout_s, meta)
        return await self._delegator.delegate(self._task, child)

    def __repr__(self) -> str:
        return f"<call helper for TASK {self._task.id} of trace {self._task.trace_id}>"
