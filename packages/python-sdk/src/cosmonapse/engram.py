"""Engrams: shared memory reached over the bus, with a per-trace saga journal.

An :class:`Engram` stores entries and answers queries. The base class owns everything that
is the same for every store: the meaning of each write op, idempotency by imprint id, and
the saga journal (docs/protocol.md section 5). A subclass supplies five storage primitives
(``_get``, ``_put``, ``_remove``, ``_search``, ``__len__``) and, optionally, ``_prepare``
to validate and normalise an entry before it is stored.

Write ops: ``add`` / ``append`` (a new entry; ``entry["id"]`` is used when given),
``upsert`` (replace the entry with the same ``merge_key`` or add it), ``merge`` (shallow-merge
into the entry with that ``merge_key``, or add it), ``delete`` (by ``entry["id"]`` or
``merge_key``).

Every write made under a trace records its inverse in that trace's journal: add becomes
delete, upsert and merge restore the prior entry (or delete), delete re-adds. FINAL commits
(discards the journal), ERROR keeps it, STOP with rollback replays it newest-first, STOP
without rollback discards it. Each journal entry is applied at most once. A journal whose
trace never ends expires after ``journal_ttl_s`` (logged), and at most ``max_journals``
are kept, so memory stays bounded.

Primitives are synchronous and must not block: an Engram runs inside the event loop of
the Dendrite that hosts it.
"""

from __future__ import annotations

import abc
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from . import _plugins
from ._ids import new_ulid
from .exceptions import EngramError

__all__ = ["WRITE_OPS", "Engram", "Hit", "ImprintResult", "InMemoryEngram"]

log = logging.getLogger("cosmonapse.engram")

WRITE_OPS = frozenset({"add", "append", "merge", "upsert", "delete"})


@dataclass(slots=True, frozen=True)
class Hit:
    """One recall result: the entry's ``id``, the ``entry`` itself and a ``score`` in
    ``[0, 1]`` (1.0 for exact matches)."""

    id: str
    entry: dict[str, Any]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "entry": self.entry, "score": self.score}


@dataclass(slots=True, frozen=True)
class ImprintResult:
    """What a write did: the entry ``id`` it touched (``None`` when a delete found
    nothing) and the Engram ``version`` after it."""

    id: str | None
    version: int
    op: str


@dataclass(slots=True)
class _Inverse:
    kind: Literal["delete", "restore"]
    entry_id: str
    prior: dict[str, Any] | None
    merge_key: str | None
    prior_merge_key: str | None


@dataclass(slots=True)
class _Journal:
    created: float
    steps: list[_Inverse] = field(default_factory=list)


class Engram(abc.ABC):
    """Base class of every Engram.

    ``engram_id`` addresses this Engram on the bus (``directed.id``); ``engram_kind``
    addresses every Engram of a kind (``directed.type``).
    """

    engram_kind: str = "generic"

    def __init__(
        self,
        engram_id: str,
        engram_kind: str | None = None,
        *,
        journal_ttl_s: float = 3600.0,
        max_journals: int = 10_000,
        dedup_window: int = 10_000,
    ) -> None:
        if not engram_id or not isinstance(engram_id, str):
            raise ValueError("engram_id must be a non-empty string")
        if journal_ttl_s <= 0 or max_journals < 1 or dedup_window < 1:
            raise ValueError("journal_ttl_s, max_journals and dedup_window must be positive")
        self.engram_id = engram_id
        if engram_kind is not None:
            self.engram_kind = engram_kind
        self.journal_ttl_s = journal_ttl_s
        self.max_journals = max_journals
        self.version = 0
        self._journals: OrderedDict[str, _Journal] = OrderedDict()
        self._merge_index: dict[str, str] = {}
        self._key_of: dict[str, str] = {}
        self._seen: OrderedDict[str, ImprintResult] = OrderedDict()
        self._dedup_window = dedup_window
        self.expired_journals = 0

    @classmethod
    def of_kind(cls, kind: str, *, engram_id: str, **options: Any) -> Self:
        """Build an Engram of the class a plugin registers as ``kind``, by name only.

        ``Engram.of_kind("vector", engram_id="docs", dim=384)`` loads the entry point named
        ``vector`` in the ``cosmonapse.engrams`` group and returns
        ``VectorEngram(engram_id="docs", dim=384)`` without importing the plugin. It is the
        Engram counterpart of ``Neuron(source=...)``, written as an alternative constructor
        on this class because what a plugin registers here is a subclass of it (a Neuron
        source registers a factory function): the call reads as "an Engram of kind X",
        returns an :class:`Engram`, and called on a subclass (``InMemoryEngram.of_kind``)
        it returns an instance of that subclass or refuses.

        ``kind`` picks the class. The instance's :attr:`engram_kind`, the name a RECALL
        addressed by type reaches on the bus, is that class's default unless the options
        say ``engram_kind=``: the ``vector`` class, for one, defaults to ``"semantic"``.
        ``engram_id`` and every option are passed to the class as keywords.

        Raises :class:`~cosmonapse.PluginNotInstalledError` with the pip command when the
        kind belongs to a package of this project that is not installed (or cannot import
        its own dependency), :class:`~cosmonapse.UnknownPluginError` naming the installed
        kinds otherwise, ``TypeError`` when what is registered is not a subclass of ``cls``,
        and whatever the class's constructor raises for a bad option (``ValueError``,
        ``TypeError``).
        """
        registered = _plugins.load(_plugins.ENGRAMS, kind)
        if not (isinstance(registered, type) and issubclass(registered, cls)):
            raise TypeError(
                f"Engram kind {kind!r} is registered as {registered!r}, "
                f"which is not a subclass of {cls.__name__}"
            )
        engram: Self = registered(engram_id=engram_id, **options)
        return engram

    # -- storage primitives ------------------------------------------------------------

    @abc.abstractmethod
    def _get(self, entry_id: str) -> dict[str, Any] | None:
        """The stored entry, or None."""

    @abc.abstractmethod
    def _put(self, entry_id: str, entry: dict[str, Any]) -> None:
        """Insert or replace an entry."""

    @abc.abstractmethod
    def _remove(self, entry_id: str) -> dict[str, Any] | None:
        """Remove an entry and return it (None when absent)."""

    @abc.abstractmethod
    def _search(
        self,
        query: Mapping[str, Any],
        *,
        top_k: int,
        filters: Mapping[str, Any],
        min_confidence: float | None,
    ) -> list[Hit]:
        """Best matches first, at most ``top_k``. Raise EngramError for a bad query."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of live entries."""

    def _prepare(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise an entry before it is stored (raise EngramError)."""
        return entry

    # -- writes ------------------------------------------------------------------------

    def imprint(
        self,
        *,
        op: str,
        entry: Mapping[str, Any] | None = None,
        merge_key: str | None = None,
        trace_id: str | None = None,
        imprint_id: str | None = None,
    ) -> ImprintResult:
        """Apply one write. Under a ``trace_id`` its inverse is journaled.

        The same ``imprint_id`` applied twice returns the first result and changes
        nothing. Raises :class:`~cosmonapse.EngramError` for an unknown op, a missing
        ``merge_key`` on merge/upsert, an entry ``_prepare`` rejects, or an add of an id
        that exists.
        """
        if imprint_id is not None:
            seen = self._seen.get(imprint_id)
            if seen is not None:
                return seen
        if op not in WRITE_OPS:
            raise EngramError(f"unknown op {op!r} (expected one of {', '.join(sorted(WRITE_OPS))})")
        if entry is not None and not isinstance(entry, Mapping):
            raise EngramError("entry must be an object")
        body = dict(entry or {})
        if op in ("merge", "upsert") and not merge_key:
            raise EngramError(f"op {op!r} needs a merge_key")
        self._expire_journals()
        inverse: _Inverse | None
        if op == "delete":
            entry_id = body.get("id") if isinstance(body.get("id"), str) else None
            if entry_id is None and merge_key:
                entry_id = self._merge_index.get(merge_key)
            if entry_id is None:
                raise EngramError("delete needs entry.id or a merge_key")
            prior_key = self._key_of.get(entry_id)
            prior = self._remove(entry_id)
            if prior is None:
                result = ImprintResult(None, self.version, op)
                self._remember(imprint_id, result)
                return result
            self._unindex(entry_id)
            inverse = _Inverse("restore", entry_id, prior, None, prior_key)
        else:
            existing_id = self._merge_index.get(merge_key) if merge_key else None
            if existing_id is not None and op in ("merge", "upsert"):
                prior = self._get(existing_id)
                new = {**(prior or {}), **body} if op == "merge" else body
                new.pop("id", None)
                prepared = self._prepare(new)
                self._put(existing_id, prepared)
                entry_id = existing_id
                inverse = _Inverse("restore", entry_id, prior, merge_key, merge_key)
            else:
                given = body.pop("id", None)
                entry_id = given if isinstance(given, str) and given else "ent_" + new_ulid()
                if given and self._get(entry_id) is not None:
                    raise EngramError(f"an entry with id {entry_id!r} already exists")
                prepared = self._prepare(body)
                self._put(entry_id, prepared)
                if merge_key:
                    self._index(entry_id, merge_key)
                inverse = _Inverse("delete", entry_id, None, merge_key, None)
        self.version += 1
        if trace_id is not None:
            self._journal(trace_id).steps.append(inverse)
        result = ImprintResult(entry_id, self.version, op)
        self._remember(imprint_id, result)
        return result

    def recall(
        self,
        query: Mapping[str, Any] | None = None,
        *,
        top_k: int | None = None,
        filters: Mapping[str, Any] | None = None,
        min_confidence: float | None = None,
    ) -> list[Hit]:
        """Query the Engram: best matches first. ``top_k`` may also come in the query."""
        q = dict(query or {})
        k = top_k if top_k is not None else q.pop("top_k", 10)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise EngramError(f"top_k must be a positive integer, got {k!r}")
        if filters is not None and not isinstance(filters, Mapping):
            raise EngramError("filters must be an object")
        return self._search(q, top_k=k, filters=filters or {}, min_confidence=min_confidence)

    # -- saga ----------------------------------------------------------------------------

    def commit(self, trace_id: str) -> int:
        """Discard ``trace_id``'s journal (its writes stay). Returns how many it held."""
        journal = self._journals.pop(trace_id, None)
        return len(journal.steps) if journal else 0

    discard = commit

    def rollback(self, trace_id: str) -> int:
        """Undo ``trace_id``'s writes newest-first; return how many inverse ops ran.

        Each journal entry runs at most once: a second rollback returns 0.
        """
        journal = self._journals.pop(trace_id, None)
        if journal is None:
            return 0
        done = 0
        while journal.steps:
            step = journal.steps.pop()
            self._apply_inverse(step)
            done += 1
        if done:
            self.version += 1
        return done

    def journal_size(self, trace_id: str) -> int:
        """Inverse ops waiting in ``trace_id``'s journal."""
        journal = self._journals.get(trace_id)
        return len(journal.steps) if journal else 0

    def has_stake(self, trace_id: str) -> bool:
        """True when this Engram holds a journal for ``trace_id``."""
        return trace_id in self._journals

    # -- internals -------------------------------------------------------------------------

    def _apply_inverse(self, step: _Inverse) -> None:
        if step.kind == "delete":
            if self._remove(step.entry_id) is not None:
                self._unindex(step.entry_id)
            return
        if step.prior is None:  # upsert that created nothing we can restore
            self._remove(step.entry_id)
            self._unindex(step.entry_id)
            return
        self._put(step.entry_id, step.prior)
        if step.prior_merge_key:
            self._index(step.entry_id, step.prior_merge_key)

    def _index(self, entry_id: str, merge_key: str) -> None:
        self._merge_index[merge_key] = entry_id
        self._key_of[entry_id] = merge_key

    def _unindex(self, entry_id: str) -> None:
        key = self._key_of.pop(entry_id, None)
        if key is not None and self._merge_index.get(key) == entry_id:
            del self._merge_index[key]

    def _journal(self, trace_id: str) -> _Journal:
        journal = self._journals.get(trace_id)
        if journal is None:
            journal = _Journal(time.monotonic())
            self._journals[trace_id] = journal
            while len(self._journals) > self.max_journals:
                old, dropped = self._journals.popitem(last=False)
                self.expired_journals += 1
                log.warning(
                    "engram %s: dropping the saga journal of %s (%d ops) to stay under "
                    "max_journals=%d; that trace can no longer be rolled back",
                    self.engram_id,
                    old,
                    len(dropped.steps),
                    self.max_journals,
                )
        return journal

    def _expire_journals(self) -> None:
        if not self._journals:
            return
        horizon = time.monotonic() - self.journal_ttl_s
        while self._journals:
            trace_id, journal = next(iter(self._journals.items()))
            if journal.created > horizon:
                break
            del self._journals[trace_id]
            self.expired_journals += 1
            log.warning(
                "engram %s: saga journal of %s expired after %.0f s with %d ops; that trace "
                "can no longer be rolled back",
                self.engram_id,
                trace_id,
                self.journal_ttl_s,
                len(journal.steps),
            )

    def _remember(self, imprint_id: str | None, result: ImprintResult) -> None:
        if imprint_id is None:
            return
        self._seen[imprint_id] = result
        if len(self._seen) > self._dedup_window:
            self._seen.popitem(last=False)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} id={self.engram_id!r} kind={self.engram_kind!r} "
            f"entries={len(self)}>"
        )


class InMemoryEngram(Engram):
    """A dict-backed Engram.

    Recall matches entries whose fields equal every key of the query (``{}`` matches
    everything) and the ``filters``; a ``"text"`` key matches as a case-insensitive
    substring of the entry's ``text``. Every hit scores 1.0, newest first.
    """

    engram_kind = "memory"

    def __init__(self, engram_id: str, engram_kind: str | None = None, **options: Any) -> None:
        super().__init__(engram_id, engram_kind, **options)
        self._entries: dict[str, dict[str, Any]] = {}

    def _get(self, entry_id: str) -> dict[str, Any] | None:
        return self._entries.get(entry_id)

    def _put(self, entry_id: str, entry: dict[str, Any]) -> None:
        self._entries.pop(entry_id, None)  # re-insert so iteration order is recency
        self._entries[entry_id] = entry

    def _remove(self, entry_id: str) -> dict[str, Any] | None:
        return self._entries.pop(entry_id, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _search(
        self,
        query: Mapping[str, Any],
        *,
        top_k: int,
        filters: Mapping[str, Any],
        min_confidence: float | None,
    ) -> list[Hit]:
        if min_confidence is not None and min_confidence > 1.0:
            return []
        wanted = {**query, **filters}
        text = wanted.pop("text", None)
        needle = text.lower() if isinstance(text, str) else None
        hits: list[Hit] = []
        for entry_id, entry in reversed(self._entries.items()):
            if "id" in wanted and wanted["id"] != entry_id:
                continue
            if any(entry.get(k) != v for k, v in wanted.items() if k != "id"):
                continue
            if needle is not None and needle not in str(entry.get("text", "")).lower():
                continue
            hits.append(Hit(entry_id, entry, 1.0))
            if len(hits) >= top_k:
                break
        return hits
