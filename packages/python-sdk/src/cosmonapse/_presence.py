"""Membership, as a host sends it: REGISTER of each hosted participant, answers to
DISCOVER, HEARTBEATs and the DEREGISTERs of a stop (docs/protocol.md section 5)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ._hosting import Hosting
from ._outbox import Outbox
from ._work import OwnedWork
from .builders import deregister_signal, heartbeat_signal, register_signal
from .signal import Signal

log = logging.getLogger("cosmonapse.dendrite")


@dataclass(frozen=True, slots=True)
class Hosted:
    """One participant this Dendrite hosts, as it announces it."""

    id: str
    role: str  # "neuron" or "engram"
    capabilities: tuple[str, ...] = ()
    version: str | None = None
    kind: str | None = None  # an Engram's kind, sent as directed.type


class Presence:
    """Announces what ``hosting`` hosts, on ``outbox``."""

    __slots__ = ("_heartbeat", "_hosting", "_outbox", "_work")

    def __init__(self, outbox: Outbox, hosting: Hosting, work: OwnedWork) -> None:
        self._outbox = outbox
        self._hosting = hosting
        self._work = work
        self._heartbeat: asyncio.Task[None] | None = None

    def participants(self) -> list[Hosted]:
        hosting = self._hosting
        found = [
            Hosted(a.neuron_id, "neuron", tuple(a.capabilities), a.version)
            for a in hosting.axons.values()
        ]
        found += [
            Hosted(e.engram_id, "engram", kind=e.engram_kind) for e in hosting.engrams.values()
        ]
        return found

    async def announce(self, participant: Hosted, parent: Signal | None = None) -> None:
        """REGISTER ``participant`` (in answer to ``parent``, a DISCOVER, when given)."""
        signal = register_signal(
            participant=participant.id,
            role=participant.role,
            capabilities=participant.capabilities,
            version=participant.version,
            node=self._outbox.node,
            trace_id=parent.trace_id if parent is not None else None,
            parent_id=parent.id if parent is not None else None,
        )
        if participant.kind is not None and signal.directed is not None:
            signal.directed.type = participant.kind
        await self._outbox.send(signal)

    async def announce_all(self, parent: Signal | None = None) -> None:
        for participant in self.participants():
            await self.announce(participant, parent)

    def on_discover(self, subject: str, discover: Signal) -> bool:
        """Answer a DISCOVER with the REGISTER of each hosted participant it asks for
        (all of them, or those covering ``payload.capabilities``)."""
        wanted = discover.payload.get("capabilities")
        participants = [
            p
            for p in self.participants()
            if not (isinstance(wanted, list) and not set(wanted).issubset(p.capabilities))
        ]
        if participants:
            self._work.spawn_control(self._answer(participants, discover))
        return True

    async def _answer(self, participants: list[Hosted], discover: Signal) -> None:
        for participant in participants:
            await self.announce(participant, parent=discover)

    async def deregister(self, participant_id: str, *, reason: str) -> None:
        await self._outbox.send(
            deregister_signal(participant=participant_id, reason=reason, node=self._outbox.node)
        )

    async def deregister_all(self) -> None:
        for participant in self.participants():
            await self._outbox.send(
                deregister_signal(
                    participant=participant.id, reason="stopped", node=self._outbox.node
                )
            )

    # -- heartbeats ------------------------------------------------------------------------

    def start_heartbeats(self, period_s: float) -> None:
        """Send a HEARTBEAT per hosted participant every ``period_s`` until
        :meth:`heartbeat_task` is cancelled."""
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._beat(period_s), name=f"cosmonapse-heartbeat:{self._outbox.node}"
        )

    @property
    def heartbeat_task(self) -> asyncio.Task[None] | None:
        return self._heartbeat

    async def _beat(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            in_flight = len(self._work)
            for participant in self.participants():
                try:
                    await self._outbox.send(
                        heartbeat_signal(
                            participant=participant.id,
                            in_flight=in_flight,
                            node=self._outbox.node,
                        )
                    )
                except Exception as exc:  # keep beating through a transport hiccup
                    log.warning("heartbeat of %s failed: %s", participant.id, exc)
