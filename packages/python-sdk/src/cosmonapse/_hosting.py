"""The host side of a Dendrite: the Axons and Engrams it hosts, the TASKs it runs and
the IMPRINT / RECALL it answers (docs/protocol.md section 5; docs/architecture.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from . import subjects
from ._engram_host import answer_imprint, answer_recall, recall_targets
from ._frame_peek import PLAIN_ID
from ._outbox import Outbox
from ._traces import attempt_of
from ._work import OwnedWork
from .axon import Axon, AxonHost
from .builders import error_signal, final_signal
from .engram import Engram
from .signal import Signal, SignalType

log = logging.getLogger("cosmonapse.dendrite")


# the last token of every routed-TASK subject: a cheap test before the whole one
_ROUTED = "." + subjects.routed_task_subject("ns").rsplit(".", 1)[1]

DEADLINE_GRACE_S = 1.0
"""How long past its deadline a run may go before its host cuts it: the caller's STOP
normally ends it first; the cut is for a STOP that never came."""


def deadline_of(task: Signal) -> float | None:
    """The loop time by which ``task`` must be answered: ``meta.deadline_ms`` (what was
    left of the caller's wait when it was sent) from now, or None when it sets none."""
    deadline_ms = task.meta.get("deadline_ms")
    if type(deadline_ms) is not int and type(deadline_ms) is not float:
        return None
    return asyncio.get_running_loop().time() + max(float(deadline_ms), 0.0) / 1000


class Hosting:
    """Runs TASKs on hosted Axons (at most ``max_concurrency`` at once, through the
    slots of ``work``) and answers for hosted Engrams.

    Past ``max_queued`` deliveries a TASK is refused with a recoverable ERROR
    ``OVERLOADED``. A reply is dropped once ``is_running()`` is false (a Neuron that
    outlived the Dendrite's stop).
    """

    __slots__ = (
        "_counters",
        "_is_running",
        "_link",
        "_max_queued",
        "_outbox",
        "_work",
        "axons",
        "engrams",
        "needles",
    )

    def __init__(
        self,
        outbox: Outbox,
        work: OwnedWork,
        counters: MutableMapping[str, int],
        link: AxonHost,
        max_queued: int,
        is_running: Callable[[], bool],
        engrams: dict[str, Engram] | None = None,
    ) -> None:
        self._outbox = outbox
        self._work = work
        self._counters = counters
        self._link = link
        self._max_queued = max_queued
        self._is_running = is_running
        self.axons: dict[str, Axon] = {}
        self.needles: tuple[bytes, ...] | None = ()
        self.engrams: dict[str, Engram] = {} if engrams is None else engrams

    def add_axon(self, axon: Axon) -> None:
        if axon.neuron_id in self.axons:
            raise ValueError(f"an Axon {axon.neuron_id!r} is already attached")
        self.axons[axon.neuron_id] = axon
        self._axons_changed()

    def _axons_changed(self) -> None:
        # the bytes a TASK frame for one of the Axons must hold: its id as a JSON string
        # (None when an id might be written escaped: every TASK is then decoded)
        ids = list(self.axons)
        self.needles = (
            tuple(b'"' + i.encode() + b'"' for i in ids)
            if all(PLAIN_ID.match(i) for i in ids)
            else None
        )

    def add_engram(self, engram: Engram) -> None:
        if engram.engram_id in self.engrams:
            raise ValueError(f"an Engram {engram.engram_id!r} is already attached")
        self.engrams[engram.engram_id] = engram

    def remove(self, participant_id: str) -> bool:
        """Stop hosting the Axon or Engram ``participant_id``; False when none is hosted."""
        if self.axons.pop(participant_id, None) is not None:
            self._axons_changed()
            return True
        return self.engrams.pop(participant_id, None) is not None

    def capabilities(self) -> list[str]:
        """Every capability some hosted Axon offers, sorted."""
        return sorted({c for a in self.axons.values() for c in a.capabilities})

    def wanted_types(self) -> set[SignalType]:
        """The Signal types hosting needs to hear."""
        wanted: set[SignalType] = set()
        if self.axons:
            wanted |= {SignalType.TASK, SignalType.DISCOVER}
        if self.engrams:
            wanted |= {SignalType.IMPRINT, SignalType.RECALL, SignalType.FINAL, SignalType.DISCOVER}
        return wanted

    # -- TASKs -----------------------------------------------------------------------------

    def on_task(self, subject: str, task: Signal) -> bool:
        """Start the run of a TASK addressed to a hosted Axon (by id, or covered by one
        when it came on the routed subject). User TASK handlers hear the broadcast
        subject only."""
        routed = subject.endswith(_ROUTED) and subjects.is_routed_task_subject(subject)
        axon = self._axon_for(task, routed)
        if axon is not None:
            if len(self._work) >= self._max_queued:
                self._refuse(axon, task)
            else:
                self._work.start_run(self._run(axon, task, deadline_of(task)), task.trace_id)
        return not routed

    def _axon_for(self, task: Signal, routed: bool) -> Axon | None:
        directed = task.directed
        if directed is None:
            return None
        if directed.id is not None:
            axon = self.axons.get(directed.id)
            host = task.meta.get("host")
            if axon is not None and type(host) is str and host != self._outbox.node:
                return None  # routed to a replica of this neuron id on another Dendrite
            return axon
        if routed:
            for candidate in self.axons.values():
                if candidate.covers(directed.capabilities):
                    return candidate
            log.debug(
                "routed TASK %s needs %s; nothing here covers it", task.id, directed.capabilities
            )
        return None

    def _refuse(self, axon: Axon, task: Signal) -> None:
        node = self._outbox.node
        self._counters["overloaded"] += 1
        log.warning(
            "dendrite %s is overloaded (%d queued); refusing TASK %s",
            node,
            len(self._work),
            task.id,
        )
        refusal = error_signal(
            trace_id=task.trace_id,
            parent_id=task.id,
            code="OVERLOADED",
            message=f"dendrite {node!r} has {self._max_queued} deliveries queued",
            recoverable=True,
            producer=axon.neuron_id,
            meta={"node": node, "attempt": attempt_of(task)},
        )
        self._work.spawn_control(self._outbox.publish(refusal))

    async def _run(self, axon: Axon, task: Signal, deadline_at: float | None) -> None:
        """One TASK's run, started by ``OwnedWork.start_run``: it ends with
        ``finish_run``, whatever happens."""
        trace_id, task_id = task.trace_id, task.id  # checked when the TASK came in
        try:
            reply = await self._answer(axon, task, deadline_at)
            if reply is None:
                return
            if not self._is_running():  # the Neuron outlived stop() (it ignored cancellation)
                log.debug(
                    "dendrite %s stopped: dropping the reply to %s", self._outbox.node, task.id
                )
                return
            try:
                # built from the TASK's checked ids (unless the Neuron changed them) and
                # the Axon's checked id and capabilities: well formed as it is
                checked = reply.trace_id is trace_id and reply.parent_id is task_id
                sending = self._outbox.post(reply, checked=checked)
                if sending is not None:
                    await sending
                if task.payload.get("finalize") and reply.type is SignalType.AGENT_OUTPUT:
                    await self._outbox.publish(self._final(axon, task, reply))
            except Exception as exc:
                self._work.report(exc)
        finally:
            self._work.finish_run(trace_id)

    async def _answer(self, axon: Axon, task: Signal, deadline_at: float | None) -> Signal | None:
        """The Neuron's reply to ``task`` (None when the run failed outside the Neuron)."""
        work = self._work
        runs = self._outbox.traces.runs
        runs[task.id] = (task.trace_id, deadline_at)
        try:  # a STOP of the trace cancels this task, waiting for a slot or running
            if deadline_at is not None and "depth" in task.meta:
                # a delegated run is cut past its deadline, so no child outlives its
                # root; a root's own caller STOPs it (and has no timer to pay for)
                async with asyncio.timeout_at(deadline_at + DEADLINE_GRACE_S):
                    return await work.bounded(axon.handle_task(task, self._link))
            slots = work.slots
            if slots.try_acquire():  # a free slot, nearly always: no bounded() coroutine
                try:
                    return await axon.handle_task(task, self._link)
                finally:
                    slots.release()
            return await work.bounded(axon.handle_task(task, self._link))
        except TimeoutError:  # only the deadline's: handle_task turns a Neuron's into ERROR
            return self._past_deadline(axon, task)
        except Exception as exc:  # handle_task turns Neuron failures into ERRORs
            work.report(exc)
            return None
        finally:
            runs.pop(task.id, None)

    def _past_deadline(self, axon: Axon, task: Signal) -> Signal:
        node = self._outbox.node
        return error_signal(
            trace_id=task.trace_id,
            parent_id=task.id,
            code="DEADLINE_EXCEEDED",
            message=(
                f"neuron {axon.neuron_id!r} ran past the TASK's deadline of "
                f"{task.meta.get('deadline_ms')} ms and was cut {DEADLINE_GRACE_S:g} s later"
            ),
            recoverable=False,
            producer=axon.neuron_id,
            meta={"node": node, "attempt": attempt_of(task)},
        )

    def _final(self, axon: Axon, task: Signal, reply: Signal) -> Signal:
        # meta.task names the TASK this FINAL closes, for a caller waiting on it
        meta: dict[str, Any] = {"node": self._outbox.node, "task": task.id}
        attempt = task.meta.get("attempt")
        if attempt is not None:
            meta["attempt"] = attempt
        return final_signal(
            trace_id=task.trace_id,
            parent_id=reply.id,
            result=reply.payload["output"],
            producer=axon.neuron_id,
            meta=meta,
        )

    # -- Engrams ---------------------------------------------------------------------------

    def on_imprint(self, subject: str, imprint: Signal) -> bool:
        engram = self.engrams.get(imprint.neuron or "")
        if engram is not None:  # applied now, in arrival order; only the answer waits
            answer = answer_imprint(engram, imprint, self._outbox.node)
            self._work.spawn_control(self._outbox.send(answer))
        return True

    def on_recall(self, subject: str, recall: Signal) -> bool:
        targets = recall_targets(self.engrams, recall)
        if targets:
            answers = answer_recall(targets, recall, self._outbox.node)
            self._work.spawn_control(self._outbox.send_all(answers))
        return True

    def commit(self, trace_id: str) -> None:
        """A FINAL ended ``trace_id``: its writes can no longer be rolled back."""
        for engram in self.engrams.values():
            engram.commit(trace_id)

    async def close_axons(self) -> None:
        for axon in self.axons.values():
            try:
                await axon.aclose()
            except Exception as exc:
                log.warning("closing neuron %s failed: %s", axon.neuron_id, exc)
