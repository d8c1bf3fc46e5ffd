"""Delegation, on the Dendrite's side: child TASKs of a running TASK, and the budgets of
the traces this Dendrite takes part in (docs/protocol.md section 6, "Delegation").

A child TASK has the parent's trace, ``parent_id`` = the parent TASK, and in ``meta``:
``depth`` (the parent's + 1), ``deadline_ms`` (what is left of the parent's deadline, or
the child's own shorter wait), ``caller`` (the delegating neuron id), and the parent's
``budget`` and ``attempt`` when it has them.

Budgets are checked where the facts are: depth and TASK count by the Dendrite about to
delegate (it hears every TASK of the namespace, since it hosts Axons), tokens by every
Dendrite that hears the trace's replies. The first to see a bound passed STOPs the trace
with ``meta.budget_exceeded`` and a reason naming the bound; every wait on it then raises
TraceBudgetExceededError.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import NoReturn

from ._calling import Calling, TaskRequest
from ._hosting import DEADLINE_GRACE_S
from ._outbox import Outbox
from ._stopping import Stopping
from ._traces import TraceBook
from ._work import OwnedWork
from .budget import TraceBudget
from .delegation import ChildCall
from .exceptions import DendriteStateError, DispatchTimeoutError, TraceBudgetExceededError
from .results import Reply
from .retry import DEFAULT_ATTEMPT_TIMEOUT_S
from .signal import Signal

log = logging.getLogger("cosmonapse.dendrite")

_MAX_TRACES = 10_000  # tallies kept, oldest forgotten first


class _Tally:
    __slots__ = ("budget", "pending", "tasks", "tokens")

    def __init__(self, budget: TraceBudget) -> None:
        self.budget = budget
        self.tasks = 1  # TASKs of the trace heard (its root counted from the start)
        self.pending = 0  # TASKs this Dendrite sent that it has not heard back yet
        self.tokens = 0  # tokens reported in the trace's replies


def depth_of(task: Signal) -> int:
    depth = task.meta.get("depth", 0)
    return depth if type(depth) is int and depth > 0 else 0


class Delegation:
    """Runs the ``call`` helper's child TASKs and keeps the trace budgets."""

    __slots__ = ("_budget", "_calling", "_outbox", "_stopping", "_traces", "_work", "tallies")

    def __init__(
        self,
        calling: Calling,
        outbox: Outbox,
        traces: TraceBook,
        stopping: Stopping,
        work: OwnedWork,
        budget: TraceBudget,
    ) -> None:
        self._calling = calling
        self._outbox = outbox
        self._traces = traces
        self._stopping = stopping
        self._work = work
        self._budget = budget
        # trace -> its tally, for traces whose budget is counted here (read, never
        # changed, by _interest.py: while any is, every TASK and reply may count)
        self.tallies: OrderedDict[str, _Tally] = OrderedDict()

    @property
    def default_budget(self) -> TraceBudget:
        return self._budget

    def budget_of(self, task: Signal) -> TraceBudget:
        raw = task.meta.get("budget")
        return self._budget if raw is None else TraceBudget.from_meta(raw, self._budget)

    def _tally(self, trace_id: str, task: Signal | None) -> _Tally:
        tallies = self.tallies
        tally = tallies.get(trace_id)
        if tally is None:
            budget = self._budget if task is None else self.budget_of(task)
            tally = tallies[trace_id] = _Tally(budget)
            if len(tallies) > _MAX_TRACES:
                tallies.popitem(last=False)
        return tally

    # -- what this Dendrite hears ----------------------------------------------------------

    def heard_task(self, task: Signal) -> None:
        """Count a TASK of its trace (every TASK a host hears, addressed here or not).

        Only traces that delegate get a tally: a root TASK (no ``meta.depth``) is counted
        when its trace already has one (a tally starts with its root counted), so the
        common case, a TASK that delegates nothing, costs one lookup."""
        meta = task.meta
        if "depth" not in meta:
            tally = self.tallies.get(task.trace_id)
            if tally is not None:
                tally.tasks += 1
            return
        tally = self._tally(task.trace_id, task)
        tally.tasks += 1
        if tally.pending and meta.get("node") == self._outbox.node:
            tally.pending -= 1

    def watch_root(self, trace_id: str, budget: TraceBudget) -> None:
        """A root TASK this Dendrite dispatches: keep its token bound."""
        if budget.max_tokens is not None:
            self._tally(trace_id, None).budget = budget

    def heard_reply(self, reply: Signal) -> None:
        """Add the tokens a reply reports to its trace; past ``max_tokens``, STOP it."""
        tokens = reply.meta.get("tokens")
        if type(tokens) is not int or tokens <= 0:
            return
        tally = self.tallies.get(reply.trace_id)
        if tally is None:
            return
        tally.tokens += tokens
        limit = tally.budget.max_tokens
        if limit is not None and tally.tokens > limit:
            error = _exceeded(reply.trace_id, "max_tokens", limit, tally.tokens)
            self._work.spawn_control(self._stop_for(error))

    # -- delegating ------------------------------------------------------------------------

    async def delegate(self, parent: Signal, child: ChildCall) -> Reply:
        """Dispatch ``child`` inside the trace of ``parent`` (a TASK running here) and
        return its Reply."""
        trace = parent.trace_id
        run = self._traces.runs.get(parent.id)
        if run is None:
            raise DendriteStateError(
                f"call() is only for the run of TASK {parent.id}, which has ended here"
            )
        budget = self.budget_of(parent)
        depth = depth_of(parent) + 1
        if depth > budget.max_depth:
            await self._refuse(_exceeded(trace, "max_depth", budget.max_depth, depth))
        tally = self._tally(trace, parent)
        count = tally.tasks + tally.pending + 1
        if count > budget.max_tasks:
            await self._refuse(_exceeded(trace, "max_tasks", budget.max_tasks, count))
        wait = child.timeout_s or DEFAULT_ATTEMPT_TIMEOUT_S
        local_wait = wait
        deadline_at = run[1]
        if deadline_at is not None:
            left = deadline_at - asyncio.get_running_loop().time()
            if left <= 0:
                raise DispatchTimeoutError(
                    f"TASK {parent.id} is past its deadline; nothing was delegated"
                )
            if left < wait:
                # The child gets what is left of the parent's deadline. Its wait here ends
                # a little later, as its host's cut does: when the root gives up first, its
                # STOP ends the whole tree, not a cascade of child timeouts.
                wait, local_wait = left, left + DEADLINE_GRACE_S
        meta = dict(child.meta or {})
        meta["depth"] = depth
        meta["deadline_ms"] = max(1, int(wait * 1000))
        if parent.neuron is not None:
            meta["caller"] = parent.neuron
        for inherited in ("budget", "attempt"):
            if inherited in parent.meta:
                meta[inherited] = parent.meta[inherited]
        request = TaskRequest(
            child.input, child.neuron, child.capabilities or None, parent.id, meta
        )
        tally.pending += 1
        reply = await self._calling.wait_once(
            request,
            trace_id=trace,
            timeout_s=local_wait,
            stop_on_timeout=False,  # one STOP covers the whole trace; a child has none
            stop_on_cancel=False,
        )
        return Reply.of(reply)

    async def _refuse(self, error: TraceBudgetExceededError) -> NoReturn:
        await self._stop_for(error)
        raise error

    async def _stop_for(self, error: TraceBudgetExceededError) -> None:
        """STOP the trace for a bound it passed (once; a worker may, for a trace it runs)."""
        trace_id = error.trace_id
        if self._traces.stopped(trace_id):
            return
        stop = self._stopping.build(trace_id, rollback=False, reason=str(error), attempt=None)
        stop.meta["budget_exceeded"] = {
            "bound": error.bound,
            "limit": error.limit,
            "value": error.value,
        }
        log.warning("%s; stopping it", error)
        self._stopping.apply_locally(stop)
        await self._outbox.send(stop)


def _exceeded(trace_id: str, bound: str, limit: int, value: int) -> TraceBudgetExceededError:
    return TraceBudgetExceededError(
        f"trace {trace_id} passed its budget: {bound} is {limit}, it reached {value}",
        trace_id=trace_id,
        bound=bound,
        limit=limit,
        value=value,
    )
