"""Subscriptions and subject routing for the dev synapse server.

The :class:`Router` keeps every subscription (of TCP clients and of in-process
subscribers alike), matches a published subject against them with
:func:`cosmonapse.subjects.subject_matches`, and hands the frame to each plain subscriber
and to one member of each queue group (round-robin). Matches are cached per subject; the
cache is bounded and rebuilt whenever a subscription comes or goes, and routes are
immutable, so a subscriber removed in the middle of a fan-out never disturbs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cosmonapse.subjects import subject_matches

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


class _Group:
    __slots__ = ("members", "turn")

    def __init__(self, members: tuple[Entry, ...]) -> None:
        self.members = members
        self.turn = 0


class _Route:
    __slots__ = ("groups", "plain")

    def __init__(self, plain: tuple[Entry, ...], groups: tuple[_Group, ...]) -> None:
        self.plain = plain
        self.groups = groups


class Router:
    """Every live subscription, and the fan-out of published frames to them."""

    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}  # insertion-ordered, keyed by identity
        self._routes: dict[str, _Route] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Entry]:
        """A snapshot of every subscription, oldest first."""
        return list(self._entries.values())

    def add(self, entry: Entry) -> None:
        self._entries[id(entry)] = entry
        self._routes.clear()

    def remove(self, entry: Entry) -> None:
        """Forget ``entry``; removing one that is already gone is a no-op."""
        if self._entries.pop(id(entry), None) is not None:
            self._routes.clear()

    def _route(self, subject: str) -> _Route:
        plain: list[Entry] = []
        groups: dict[str, list[Entry]] = {}
        for entry in self._entries.values():
            if subject_matches(entry.subject, subject):
                if entry.queue_group is None:
                    plain.append(entry)
                else:
                    groups.setdefault(entry.queue_group, []).append(entry)
        route = _Route(tuple(plain), tuple(_Group(tuple(m)) for m in groups.values()))
        if len(self._routes) >= _ROUTE_CACHE_SIZE:
            self._routes.clear()
        self._routes[subject] = route
        return route

    def fan_out(self, frame: OutboundFrame) -> int:
        """Deliver ``frame`` to every plain subscriber and one member of each queue group.

        A group member whose owner refuses the frame (it is closing or was just dropped)
        passes its turn to the next member. Returns how many subscriptions took it.
        """
        route = self._routes.get(frame.subject)
        if route is None:
            route = self._route(frame.subject)
        delivered = 0
        for entry in route.plain:
            if entry.owner.deliver(entry, frame):
                delivered += 1
        for group in route.groups:
            members = group.members
            size = len(members)
            for _ in range(size):
                entry = members[group.turn % size]
                group.turn += 1
                if entry.owner.deliver(entry, frame):
                    delivered += 1
                    break
        return delivered
