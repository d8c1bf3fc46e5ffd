"""Choosing the one host that runs a capability-routed TASK (docs/protocol.md section 5).

The dispatcher, not the broker, decides. From live membership (the REGISTER, HEARTBEAT
and DEREGISTER every host publishes) it keeps one row per hosted Neuron *per Dendrite*,
so replicas of one neuron id on several processes are several hosts. For a TASK it takes
the hosts whose capabilities cover the request and picks the least loaded: what the
host's last HEARTBEAT reported in flight, plus what this dispatcher sent it since and has
not seen answered, plus a penalty for each of its TASKs that went unanswered (a host that
died without a DEREGISTER soon stops being picked). Ties go to the host picked least
recently, so equal hosts take turns.

The TASK is addressed to the picked neuron id, and ``meta.host`` names the picked
Dendrite, so when replicas share the id only that one runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from .signal import Signal, SignalType

_UNANSWERED_PENALTY = 1_000  # a host that let a TASK go unanswered goes to the back
_ANSWER_WINDOW_S = 0.05  # after a DISCOVER's first covering answer, wait this for the rest


@dataclass(slots=True)
class Host:
    """One hosted Neuron on one Dendrite (``node``; None when the REGISTER names none)."""

    neuron_id: str
    node: str | None
    capabilities: frozenset[str]
    last_seen: float
    in_flight: int = 0  # as its last HEARTBEAT reported
    sent: int = 0  # TASKs this dispatcher sent it since that HEARTBEAT, not yet answered
    unanswered: int = 0  # its TASKs that timed out or were abandoned since it was last heard
    last_pick: int = -1

    @property
    def load(self) -> int:
        return self.in_flight + self.sent + _UNANSWERED_PENALTY * self.unanswered


class HostPicker:
    """Capability hosts of one namespace, kept from the membership Signals given to
    :meth:`observe`. Bounded: at most ``max_hosts`` rows (the stalest go first), and a
    host not heard from for ``stale_after_s`` is forgotten."""

    def __init__(self, *, stale_after_s: float = 90.0, max_hosts: int = 10_000) -> None:
        self.stale_after_s = stale_after_s
        self.max_hosts = max_hosts
        self._hosts: dict[tuple[str | None, str], Host] = {}
        self._picks = 0
        self._joined = asyncio.Event()
        # capabilities -> loop time until which the DISCOVER sent for them is awaited
        self._asking: dict[frozenset[str], float] = {}

    def __len__(self) -> int:
        return len(self._hosts)

    def observe(self, signal: Signal) -> None:
        """Apply one REGISTER, DEREGISTER or HEARTBEAT (of a Neuron; others ignored)."""
        ident = signal.neuron
        if ident is None:
            return
        node = signal.meta.get("node")
        key = (node if isinstance(node, str) else None, ident)
        kind = signal.type
        now = asyncio.get_running_loop().time()
        if kind is SignalType.REGISTER:
            if signal.payload.get("role", "neuron") != "neuron":
                return
            caps = signal.payload.get("capabilities")
            if not isinstance(caps, list):
                caps = signal.directed.capabilities if signal.directed else []
            host = self._hosts.get(key)
            offered = frozenset(c for c in caps if isinstance(c, str))
            if host is None:
                self._hosts[key] = Host(ident, key[0], offered, now)
                self._bound()
            else:
                host.capabilities = offered
                host.last_seen = now
                host.unanswered = 0
            self._joined.set()
        elif kind is SignalType.DEREGISTER:
            self._hosts.pop(key, None)
        elif kind is SignalType.HEARTBEAT:
            host = self._hosts.get(key)
            if host is not None:
                host.last_seen = now
                host.sent = 0  # its in_flight now counts what we sent
                host.unanswered = 0
                in_flight = signal.payload.get("in_flight")
                host.in_flight = in_flight if type(in_flight) is int and in_flight >= 0 else 0

    def covering_known(self, capabilities: Iterable[str]) -> bool:
        wanted = set(capabilities)
        return any(wanted <= host.capabilities for host in self._hosts.values())

    def pick(self, capabilities: Iterable[str]) -> Host | None:
        """The host to send a TASK needing ``capabilities`` to, or None if no live host
        covers them. Counts the TASK as sent to it."""
        wanted = set(capabilities)
        horizon = asyncio.get_running_loop().time() - self.stale_after_s
        best: Host | None = None
        stale: list[tuple[str | None, str]] = []
        for key, host in self._hosts.items():
            if host.last_seen < horizon:
                stale.append(key)
            elif wanted <= host.capabilities and (
                best is None or (host.load, host.last_pick) < (best.load, best.last_pick)
            ):
                best = host
        for key in stale:
            del self._hosts[key]
        if best is not None:
            self._picks += 1
            best.last_pick = self._picks
            best.sent += 1
        return best

    def finished(self, host: Host, *, answered: bool) -> None:
        """A TASK sent to ``host`` was answered, or went unanswered (timed out or was
        abandoned)."""
        if host.sent > 0:
            host.sent -= 1
        if answered:
            host.unanswered = 0
        else:
            host.unanswered += 1

    async def discover(
        self,
        capabilities: list[str],
        *,
        send_discover: Callable[[], Awaitable[None]],
        timeout_s: float,
    ) -> Host | None:
        """:meth:`pick`, after asking the namespace who covers ``capabilities``: waits at
        most ``timeout_s`` for a covering REGISTER. Concurrent callers asking for the
        same capabilities share one DISCOVER."""
        if timeout_s <= 0:
            return self.pick(capabilities)
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + timeout_s
        key = frozenset(capabilities)
        if self._asking.get(key, 0.0) <= now:
            for done in [k for k, until in self._asking.items() if until <= now]:
                del self._asking[done]  # bounded: only DISCOVERs still awaited are kept
            self._asking[key] = deadline
            self._joined.clear()
            await send_discover()
        while True:
            left = deadline - loop.time()
            if self.covering_known(capabilities):
                # Other hosts answer the same DISCOVER a moment later: collect them for a
                # short window, so a first burst of TASKs is spread, not all sent to the
                # first host that answered.
                await asyncio.sleep(min(_ANSWER_WINDOW_S, max(left, 0.0)))
                return self.pick(capabilities)
            if left <= 0:
                return None
            self._joined.clear()
            try:
                await asyncio.wait_for(self._joined.wait(), left)
            except TimeoutError:
                return self.pick(capabilities)

    def _bound(self) -> None:
        while len(self._hosts) > self.max_hosts:
            stalest = min(self._hosts, key=lambda k: self._hosts[k].last_seen)
            del self._hosts[stalest]
