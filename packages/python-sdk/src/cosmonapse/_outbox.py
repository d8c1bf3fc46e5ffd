"""Where a Dendrite's Signals leave: each Signal's subject, the role gate and the
stopped-trace filter (docs/protocol.md sections 3 and 5).

On a transport that carries parcels (the in-process bus) a well-formed Signal leaves as a
snapshot (``_snapshot.py``) rather than as bytes; any other goes out encoded, so a
receiver judges it exactly as it would over a socket."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, MutableMapping
from typing import Literal

from . import subjects
from ._snapshot import SignalSnapshot, snapshot_of
from ._traces import TraceBook
from .exceptions import RoleError
from .signal import Signal, SignalType
from .synapses.base import ParcelCarrier, Synapse

log = logging.getLogger("cosmonapse.dendrite")

Role = Literal["orchestrator", "worker"]

ROLE_GATED = frozenset({SignalType.TASK, SignalType.STOP})
"""What only orchestrators send."""

SUPPRESSED = frozenset(
    {
        SignalType.TASK,
        SignalType.AGENT_OUTPUT,
        SignalType.FINAL,
        SignalType.ERROR,
        SignalType.IMPRINT,
    }
)
"""Signals of a stopped trace that are neither sent nor delivered."""


class Outbox:
    """Publishes one Dendrite's Signals on ``synapse`` in ``namespace``.

    :meth:`publish` refuses what ``role`` may not send and drops Signals of stopped
    traces; :meth:`send` is for acks and announcements, which skip both checks. Every
    frame sent counts in ``counters["published"]``.
    """

    __slots__ = (
        "_subjects",
        "carrier",
        "counters",
        "namespace",
        "node",
        "role",
        "synapse",
        "traces",
    )

    def __init__(
        self,
        synapse: Synapse,
        namespace: str,
        node: str,
        role: Role,
        traces: TraceBook,
        counters: MutableMapping[str, int],
    ) -> None:
        self.synapse = synapse
        # the in-process path for snapshots of Signals, when the transport has one
        self.carrier = synapse if isinstance(synapse, ParcelCarrier) else None
        self.namespace = namespace
        self.node = node
        self.role: Role = role
        self.traces = traces
        self.counters = counters
        self._subjects: dict[SignalType, str] = {}

    def subject(self, signal_type: SignalType) -> str:
        """The namespace subject of ``signal_type`` (cached)."""
        subject = self._subjects.get(signal_type)
        if subject is None:
            subject = subjects.signal_subject(self.namespace, signal_type.value)
            self._subjects[signal_type] = subject
        return subject

    def subject_of(self, signal: Signal) -> str:
        """Where ``signal`` travels: a capability TASK with no neuron id on the routed
        subject, everything else on its type's subject."""
        directed = signal.directed
        if (
            signal.type is SignalType.TASK
            and directed is not None
            and directed.id is None
            and directed.capabilities
        ):
            return subjects.routed_task_subject(self.namespace)
        subject = self._subjects.get(signal.type)
        return subject if subject is not None else self.subject(signal.type)

    def check_role(self, kind: SignalType) -> None:
        """Raise RoleError when this Dendrite's role may not send ``kind``."""
        if kind in ROLE_GATED and self.role != "orchestrator":
            raise RoleError(
                f"dendrite {self.node!r} has role 'worker'; only orchestrators send "
                f"{kind.value} (create it with role='orchestrator')"
            )

    async def publish(self, signal: Signal) -> None:
        """Publish after the role gate; a Signal of a stopped trace is dropped, counted in
        ``counters["suppressed"]``. A worker may send the TASKs a Neuron it runs
        delegates: those whose ``parent_id`` is a TASK of the same trace running here."""
        sending = self.post(signal)
        if sending is not None:
            await sending

    def post(self, signal: Signal, *, checked: bool = False) -> Awaitable[None] | None:
        """:meth:`publish`, done at once (None) where the transport takes a snapshot or
        can queue the frame now (:meth:`~cosmonapse.synapses.base.Synapse.post`), or the
        awaitable that sends it. For hot paths: no coroutine while that holds.

        ``checked``: ``signal`` is well formed by construction (built here from parts
        already checked, and given to nobody), so its snapshot skips
        :func:`~cosmonapse.signal.well_formed`."""
        kind = signal.type
        if kind in ROLE_GATED and self.role != "orchestrator" and not self.is_delegated(signal):
            self.check_role(kind)
        traces = self.traces
        if kind in SUPPRESSED and traces.stopped_traces and traces.is_stopped(signal):
            self.counters["suppressed"] += 1
            log.debug("not publishing %s on stopped trace %s", kind.value, signal.trace_id)
            return None
        return self._post(signal, checked)

    def _post(self, signal: Signal, checked: bool = False) -> Awaitable[None] | None:
        carrier = self.carrier
        if carrier is not None and (
            (snapshot := SignalSnapshot(signal) if checked else snapshot_of(signal)) is not None
        ):
            carrier.publish_parcel(self.subject_of(signal), snapshot)
            self.counters["published"] += 1
            return None
        # not a carrier, or a Signal not well formed: its bytes, queued at once where
        # the transport can (Synapse.post)
        sending = self.synapse.post(self.subject_of(signal), signal.encode())
        if sending is None:
            self.counters["published"] += 1
            return None
        return self._count_when_sent(sending)

    async def _count_when_sent(self, sending: Awaitable[None]) -> None:
        await sending
        self.counters["published"] += 1

    def is_delegated(self, signal: Signal) -> bool:
        """A TASK delegated by the run of its parent TASK on this Dendrite."""
        if signal.type is not SignalType.TASK or signal.parent_id is None:
            return False
        run = self.traces.runs.get(signal.parent_id)
        return run is not None and run[0] == signal.trace_id

    async def send(self, signal: Signal) -> None:
        """Publish without the role and stopped-trace checks."""
        sending = self._post(signal)
        if sending is not None:
            await sending

    async def send_all(self, signals: list[Signal]) -> None:
        for signal in signals:
            await self.send(signal)
