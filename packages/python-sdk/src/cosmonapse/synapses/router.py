"""SubjectRouter: which subscribers get a frame published on a subject.

Matching follows docs/protocol.md section 3 (``*`` one token, ``>`` the rest, via
:func:`cosmonapse.subjects.subject_matches`): every plain subscriber gets the frame, and
one member of each queue group, round-robin. Both the memory synapse and the dev synapse
server route with it. Matches are cached per subject in a bounded cache, rebuilt whenever
a subscriber comes or goes; routes are immutable tuples, so a subscriber removed in the
middle of a fan-out never disturbs it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

from ..subjects import subject_matches

__all__ = ["DEFAULT_ROUTE_CACHE", "Route", "SubjectRouter"]

T = TypeVar("T")

DEFAULT_ROUTE_CACHE = 4096
"""Subjects whose matches are kept before the cache starts over."""


class Route(Generic[T]):
    """The subscribers one subject matches: ``plain`` ones and each queue group's members."""

    __slots__ = ("groups", "plain")

    def __init__(self, plain: tuple[T, ...], groups: tuple[tuple[T, ...], ...]) -> None:
        self.plain = plain
        self.groups = groups


class SubjectRouter(Generic[T]):
    """Subscribers by subject pattern and queue group, in the order they were added.

    A subscriber is any object, told apart by identity; :meth:`fan_out` hands a frame to
    each one a callable picks up.
    """

    __slots__ = ("_cache", "_cache_size", "_entries", "_turns")

    def __init__(self, *, cache_size: int = DEFAULT_ROUTE_CACHE) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._entries: dict[int, tuple[T, str, str | None]] = {}
        self._cache: dict[str, Route[T]] = {}
        self._cache_size = cache_size
        self._turns = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, subscriber: object) -> bool:
        return id(subscriber) in self._entries

    def subscribers(self) -> list[T]:
        """A snapshot of every subscriber, oldest first."""
        return [entry[0] for entry in self._entries.values()]

    def add(self, subscriber: T, subject: str, queue_group: str | None = None) -> None:
        """Route frames matching the pattern ``subject`` to ``subscriber``."""
        self._entries[id(subscriber)] = (subscriber, subject, queue_group)
        self._cache.clear()

    def remove(self, subscriber: T) -> bool:
        """Forget ``subscriber``; False (a no-op) when it was not there."""
        if self._entries.pop(id(subscriber), None) is None:
            return False
        self._cache.clear()
        return True

    def clear(self) -> None:
        """Forget every subscriber."""
        self._entries.clear()
        self._cache.clear()

    def cached_route(self, subject: str) -> Route[T] | None:
        """The cached route of ``subject``, or None when it has to be worked out."""
        return self._cache.get(subject)

    def route(self, subject: str) -> Route[T]:
        """The subscribers a frame on ``subject`` (no wildcards) may go to."""
        route = self._cache.get(subject)
        if route is not None:
            return route
        plain: list[T] = []
        groups: dict[str, list[T]] = {}
        for subscriber, pattern, group in self._entries.values():
            if subject_matches(pattern, subject):
                if group is None:
                    plain.append(subscriber)
                else:
                    groups.setdefault(group, []).append(subscriber)
        route = Route(tuple(plain), tuple(tuple(m) for m in groups.values()))
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[subject] = route
        return route

    def fan_out(self, subject: str, deliver: Callable[[T], bool]) -> int:
        """Call ``deliver`` for every plain subscriber and one member of each queue group.

        The member is picked round-robin (one turn per call); when ``deliver`` refuses it
        (returns False), the turn passes to the next member. Returns how many took it.
        """
        route = self.route(subject)
        delivered = 0
        for subscriber in route.plain:
            if deliver(subscriber):
                delivered += 1
        if route.groups:
            turn = next(self._turns)
            for members in route.groups:
                size = len(members)
                for step in range(size):
                    if deliver(members[(turn + step) % size]):
                        delivered += 1
                        break
        return delivered
