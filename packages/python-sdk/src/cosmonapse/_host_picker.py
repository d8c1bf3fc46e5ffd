"""Choosing the one host that runs a capability-routed TASK (docs/protocol.md section 5).

The dispatcher, not the broker, decides: from live membership (REGISTER, HEARTBEAT,
DEREGISTER, kept in a :class:`~cosmonapse.MemoryRegistryStore`) it takes the Neurons whose
capabilities cover the request and picks the least loaded one. Load is what the host's
last HEARTBEAT reported in flight plus what this dispatcher has sent it since that
HEARTBEAT and not yet seen answered; ties go to the host picked least recently, so equal
hosts take turns. The TASK is then addressed to that neuron id, so it runs exactly once
whatever mix of capability profiles the hosts have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from .registry import MemoryRegistryStore, Participant
from .signal import Signal, SignalType


class HostPicker:
    """Picks covering hosts from ``store``; :meth:`observe` must see every membership
    Signal after the store has."""

    def __init__(self, store: MemoryRegistryStore) -> None:
        self.store = store
        self._sent: dict[str, int] = {}  # neuron id -> TASKs sent since its last HEARTBEAT
        self._last_pick: dict[str, int] = {}  # neuron id -> pick sequence number
        self._picks = 0
        self._joined = asyncio.Event()
        # capabilities -> loop time until which the DISCOVER sent for them is awaited
        self._asking: dict[frozenset[str], float] = {}
        store.on_change(self._on_change)

    def _on_change(self, event: str, member: Participant) -> None:
        if event == "join":
            self._joined.set()
        else:
            self._sent.pop(member.id, None)
            self._last_pick.pop(member.id, None)

    def observe(self, signal: Signal) -> None:
        if signal.type is SignalType.HEARTBEAT and signal.neuron is not None:
            self._sent.pop(signal.neuron, None)  # its in_flight now counts what we sent

    def covering(self, capabilities: Iterable[str]) -> list[Participant]:
        wanted = set(capabilities)
        return [
            p
            for p in self.store.participants()
            if p.role == "neuron" and wanted.issubset(p.capabilities)
        ]

    def pick(self, capabilities: Iterable[str]) -> str | None:
        """The neuron id to send a TASK needing ``capabilities`` to, or None if no live
        participant covers them. Counts the TASK as sent to it."""
        candidates = self.covering(capabilities)
        if not candidates:
            return None
        sent = self._sent
        last = self._last_pick
        best = min(
            candidates, key=lambda p: (p.in_flight + sent.get(p.id, 0), last.get(p.id, -1), p.id)
        )
        self._picks += 1
        last[best.id] = self._picks
        sent[best.id] = sent.get(best.id, 0) + 1
        return best.id

    def answered(self, neuron_id: str) -> None:
        """A TASK sent to ``neuron_id`` was answered (or abandoned)."""
        count = self._sent.get(neuron_id)
        if count is not None:
            if count > 1:
                self._sent[neuron_id] = count - 1
            else:
                del self._sent[neuron_id]

    async def discover(
        self,
        capabilities: list[str],
        *,
        send_discover: Callable[[], Awaitable[None]],
        timeout_s: float,
    ) -> str | None:
        """:meth:`pick`, after asking the namespace who covers ``capabilities`` when no
        one is known: waits at most ``timeout_s`` for a covering REGISTER. Concurrent
        callers share one DISCOVER while its answers are awaited."""
        picked = self.pick(capabilities)
        if picked is not None or timeout_s <= 0:
            return picked
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        now = loop.time()
        key = frozenset(capabilities)
        if self._asking.get(key, 0.0) <= now:
            for stale in [k for k, until in self._asking.items() if until <= now]:
                del self._asking[stale]  # bounded: only DISCOVERs still awaited are kept
            self._asking[key] = deadline
            self._joined.clear()
            await send_discover()
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return self.pick(capabilities)
            try:
                await asyncio.wait_for(self._joined.wait(), left)
            except TimeoutError:
                return self.pick(capabilities)
            picked = self.pick(capabilities)
            if picked is not None:
                return picked
            self._joined.clear()
