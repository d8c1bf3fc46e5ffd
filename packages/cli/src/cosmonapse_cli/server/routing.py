"""Subscriptions and subject routing for the dev synapse server.

The :class:`Router` keeps every subscription (of TCP clients and of in-process
subscribers alike) in the SDK's :class:`~cosmonapse.synapses.router.SubjectRouter`, the
same matching (docs/protocol.md section 2) and queue-group round robin the memory synapse
uses, and hands each published frame to every plain subscriber and to one member of each
queue group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cosmonapse.synapses.router import SubjectRouter

from .protocol import msg_head, msg_tail

__all__ = ["Entry", "OutboundFrame", "Router", "Sink", "namespace_of"]

_PREFIX = "cosmonapse."
_ROUTE_CACHE_SIZE = 4096


def namespace_of(subject: str) -> str | None:
    """The namespace a ``cosmonapse.<ns>.…`` subject or pattern belongs to, if any.

    ``None`` for subjects outside the ``cosmonapse`` prefix and for patterns whose
    namespace token is a wildcard.
    """
    if not subject.startswith(_PREFIX):
        return None
    token = subject[len(_PREFIX) :].split(".", 1)[0]
    if not token or token in ("*", ">"):
        return None
    return token


class OutboundFrame:
    """One published frame, encoded lazily and at most once for all receivers."""

    __slots__ = ("_data", "_tail", "frame", "subject")

    def __init__(self, subject: str, frame: str) -> None:
        self.subject = subject
        self.frame = frame
        self._tail: bytes | None = None
        self._data: bytes | None = None

    @property
    def tail(self) -> bytes:
        """The shared end of the ``msg`` line (subject, frame, newline)."""
        tail = self._tail
        if tail is None:
            tail = self._tail = msg_tail(self.subject, self.frame)
        return tail

    @property
    def data(self) -> bytes:
        """The frame as UTF-8 bytes, for in-process subscribers."""
        data = self._data
        if data is None:
            data = self._data = self.frame.encode()
        return data


class Sink(Protocol):
    """Whoever owns subscriptions: a TCP connection or an in-process subscriber."""

    def deliver(self, entry: Entry, frame: OutboundFrame) -> bool:
        """Queue ``frame`` for ``entry`` without blocking; False if the owner is gone."""
        ...

    def subscription_ended(self, entry: Entry, reason: str) -> None:
        """The server ended ``entry`` on its own (``mgmt_stop``); tell the owner."""
        ...


@dataclass(eq=False, slots=True)
class Entry:
    """One subscription as the server sees it."""

    owner: Sink
    sub_id: str
    subject: str
    queue_group: str | None
    namespace: str | None = field(init=False)
    head: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.namespace = namespace_of(self.subject)
        self.head = msg_head(self.sub_id)


class Router:
    """Every live subscription, and the fan-out of published frames to them (a
    :class:`~cosmonapse.synapses.router.SubjectRouter` of :class:`Entry`)."""

    def __init__(self) -> None:
        self._subjects: SubjectRouter[Entry] = SubjectRouter(cache_size=_ROUTE_CACHE_SIZE)

    def __len__(self) -> int:
        return len(self._subjects)

    def entries(self) -> list[Entry]:
        """A snapshot of every subscription, oldest first."""
        return self._subjects.subscribers()

    def add(self, entry: Entry) -> None:
        self._subjects.add(entry, entry.subject, entry.queue_group)

    def remove(self, entry: Entry) -> None:
        """Forget ``entry``; removing one that is already gone is a no-op."""
        self._subjects.remove(entry)

    def fan_out(self, frame: OutboundFrame) -> int:
        """Deliver ``frame`` to every plain subscriber and one member of each queue group.

        A group member whose owner refuses the frame (it is closing or was just dropped)
        passes its turn to the next member. Returns how many subscriptions took it.
        """
        return self._subjects.fan_out(
            frame.subject, lambda entry: entry.owner.deliver(entry, frame)
        )
