"""Live membership: who is on a namespace, kept current from REGISTER, DEREGISTER and
HEARTBEAT.

A Dendrite given a ``registry_store`` feeds it every membership Signal it hears (all it
needs of one is :class:`RegistryStore`: ``observe(signal)``);
:meth:`MemoryRegistryStore.peers` then answers "who is alive now", dropping anyone whose
last REGISTER or HEARTBEAT is older than ``stale_after_s``. Participants come out as
:class:`Participant` records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .signal import Signal, SignalType

__all__ = ["MemoryRegistryStore", "Participant", "RegistryStore"]


@dataclass(slots=True)
class Participant:
    """One registered participant (a Neuron or an Engram) and where it lives."""

    id: str
    role: str
    capabilities: list[str]
    node: str | None
    version: str | None
    last_seen: float
    status: str = "ok"
    in_flight: int = 0  # what its host's last HEARTBEAT reported running or queued
    meta: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class RegistryStore(Protocol):
    """What a Dendrite calls on its ``registry_store``: a store of membership that
    :class:`MemoryRegistryStore` implements in process, and another could keep elsewhere.

    The Dendrite calls :meth:`observe` from its read path, for every REGISTER,
    DEREGISTER and HEARTBEAT it hears, so it must return at once without blocking.
    """

    def observe(self, signal: Signal) -> None:
        """Apply one membership Signal (ignore other types)."""
        ...


class MemoryRegistryStore:
    """An in-process membership view (a :class:`RegistryStore`).

    ``stale_after_s`` (default 90 s, three missed 30 s heartbeats) decides when a silent
    participant stops counting as alive; ``None`` keeps participants until DEREGISTER.
    ``max_participants`` bounds memory: the stalest entries go first.
    """

    def __init__(
        self,
        *,
        stale_after_s: float | None = 90.0,
        max_participants: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stale_after_s = stale_after_s
        self.max_participants = max_participants
        self._clock = clock
        self._members: dict[str, Participant] = {}
        self._listeners: list[Callable[[str, Participant], None]] = []

    def observe(self, signal: Signal) -> None:
        """Apply one REGISTER, DEREGISTER or HEARTBEAT (other types are ignored)."""
        ident = signal.neuron
        if ident is None:
            return
        now = self._clock()
        node = signal.meta.get("node")
        node = node if isinstance(node, str) else None
        if signal.type is SignalType.REGISTER:
            caps = signal.payload.get("capabilities") or (
                signal.directed.capabilities if signal.directed else []
            )
            version = signal.payload.get("version")
            member = Participant(
                id=ident,
                role=str(signal.payload.get("role") or "neuron"),
                capabilities=[c for c in caps if isinstance(c, str)],
                node=node,
                version=version if isinstance(version, str) else None,
                last_seen=now,
            )
            fresh = ident not in self._members
            self._members[ident] = member
            self._bound()
            if fresh:
                self._notify("join", member)
        elif signal.type is SignalType.DEREGISTER:
            gone = self._members.pop(ident, None)
            if gone is not None:
                self._notify("leave", gone)
        elif signal.type is SignalType.HEARTBEAT:
            beating = self._members.get(ident)
            if beating is not None:
                beating.last_seen = now
                beating.status = str(signal.payload.get("status", "ok"))
                in_flight = signal.payload.get("in_flight")
                if type(in_flight) is int and in_flight >= 0:
                    beating.in_flight = in_flight

    def on_change(self, listener: Callable[[str, Participant], None]) -> None:
        """Call ``listener("join" | "leave", participant)`` on every membership change."""
        self._listeners.append(listener)

    def peers(self, *, role: str | None = None, capability: str | None = None) -> list[str]:
        """Ids of live participants, sorted (so every peer derives the same list)."""
        return sorted(
            p.id
            for p in self.participants()
            if (role is None or p.role == role)
            and (capability is None or capability in p.capabilities)
        )

    def participants(self) -> list[Participant]:
        """Live participants; stale ones are forgotten (and reported as leaving)."""
        if self.stale_after_s is not None:
            horizon = self._clock() - self.stale_after_s
            for ident in [i for i, p in self._members.items() if p.last_seen < horizon]:
                self._notify("leave", self._members.pop(ident))
        return list(self._members.values())

    def get(self, participant_id: str) -> Participant | None:
        return self._members.get(participant_id)

    def _bound(self) -> None:
        while len(self._members) > self.max_participants:
            stalest = min(self._members.values(), key=lambda p: p.last_seen)
            self._notify("leave", self._members.pop(stalest.id))

    def _notify(self, event: str, member: Participant) -> None:
        for listener in list(self._listeners):
            listener(event, member)
