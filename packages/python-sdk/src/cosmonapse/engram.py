"""Engrams: shared memory reached over the bus, with a per-trace saga journal.

An :class:`Engram` stores entries and answers queries. The base class owns everything that
is the same for every store: the meaning of each write op, idempotency by imprint id, and
the saga journal (docs/protocol.md section 5). A subclass supplies five storage primitives
(``_get``, ``_put``, ``_remove``, ``_search``, ``__len__``) and, optionally, ``_prepare``
to validate and normalise an entry before it is stored.

Write ops (``add``/``append``, ``upsert``, ``merge``, ``delete``) and the saga journal's
rules are in docs/engrams.md; each journal entry is applied at most once, and journals are
bounded by ``journal_ttl_s`` and ``max_journals`` (a dropped one is logged).

Primitives are synchronous and must not block: an Engram runs inside the event loop of
the Dendrite that hosts it. A durable subclass overrides ``_persist`` to commit each
operation's :class:`EngramChange` before it returns (docs/engrams.md, "Durable Engrams").
"""

from __future__ import annotations

import abc
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from . import _plugins
from ._engram_results import Hit, ImprintResult
from ._ids import new_ulid
from .exceptions import EngramError

__all__ = [
    "WRITE_OPS",
    "Engram",
    "EngramChange",
    "Hit",
    "ImprintResult",
    "InMemoryEngram",
    "JournalEvent",
    "JournalStep",
]

log = logging.getLogger("cosmonapse.engram")

WRITE_OPS = frozenset({"add", "append", "merge", "upsert", "delete"})


@dataclass(slots=True)
class JournalStep:
    """One inverse op of a saga journal: ``delete`` the entry, or ``restore`` its
    ``prior`` value (None: delete it) and ``prior_merge_key``."""

    kind: Literal["delete", "restore"]
    entry_id: str
    prior: dict[str, Any] | None
    merge_key: str | None
    prior_merge_key: str | None


@dataclass(slots=True)
class _Journal:
    created: float
    steps: list[JournalStep] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class JournalEvent:
    """A journal opened (``created`` is ``time.monotonic()``), a step appended at
    ``index``, or a journal closed (committed, rolled back, expired or dropped)."""

    kind: Literal["open", "step", "close"]
    trace_id: str
    created: float = 0.0
    index: int = 0
    step: JournalStep | None = None


@dataclass(slots=True)
class EngramChange:
    """What one operation changed, for ``_persist`` to commit at once.

    ``entries`` maps each entry id written to its merge key (read the entry with
    ``_get``: None means it is gone); ``journal`` lists the journal events in order;
    ``imprint`` is the imprint id and result to remember; ``version`` the version after.
    """

    entries: dict[str, str | None] = field(default_factory=dict)
    journal: list[JournalEvent] = field(default_factory=list)
    imprint: tuple[str, ImprintResult] | None = None
    version: int = 0


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
        self._change: EngramChange | None = None

    @classmethod
    def of_kind(cls, kind: str, *, engram_id: str, **options: Any) -> Self:
        """Build the Engram class registered as ``kind`` (a ``cosmonapse.engrams`` entry
        point: ``memory`` and ``sqlite`` come with this package), passing ``engram_id`` and
        every option as keywords. See docs/engrams.md, "Engrams by kind", for the errors.
        """
        registered = _kind_class(kind)
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
        that exists; a durable Engram raises :class:`~cosmonapse.EngramStoreError` when
        the write could not be committed (and then nothing of it was applied).
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
        change = self._begin()
        try:
            self._expire_journals()
            result = self._write(op, body, merge_key, trace_id)
        except BaseException:
            self._finish(change)  # what happened before the error (expired journals)
            raise
        if imprint_id is not None:
            change.imprint = (imprint_id, result)
        self._finish(change)
        self._remember(imprint_id, result)
        return result

    def _write(
        self, op: str, body: dict[str, Any], merge_key: str | None, trace_id: str | None
    ) -> ImprintResult:
        inverse: JournalStep
        if op == "delete":
            entry_id = body.get("id") if isinstance(body.get("id"), str) else None
            if entry_id is None and merge_key:
                entry_id = self._merge_index.get(merge_key)
            if entry_id is None:
                raise EngramError("delete needs entry.id or a merge_key")
            prior_key = self._key_of.get(entry_id)
            prior = self._remove(entry_id)
            if prior is None:
                return ImprintResult(None, self.version, op)
            self._touch(entry_id)
            self._unindex(entry_id)
            inverse = JournalStep("restore", entry_id, prior, None, prior_key)
        else:
            existing_id = self._merge_index.get(merge_key) if merge_key else None
            if existing_id is not None and op in ("merge", "upsert"):
                prior = self._get(existing_id)
                new = {**(prior or {}), **body} if op == "merge" else body
                new.pop("id", None)
                prepared = self._prepare(new)
                self._put(existing_id, prepared)
                entry_id = existing_id
                inverse = JournalStep("restore", entry_id, prior, merge_key, merge_key)
            else:
                given = body.pop("id", None)
                entry_id = given if isinstance(given, str) and given else "ent_" + new_ulid()
                if given and self._get(entry_id) is not None:
                    raise EngramError(f"an entry with id {entry_id!r} already exists")
                prepared = self._prepare(body)
                self._put(entry_id, prepared)
                if merge_key:
                    self._index(entry_id, merge_key)
                inverse = JournalStep("delete", entry_id, None, merge_key, None)
            self._touch(entry_id)
        self.version += 1
        if trace_id is not None:
            steps = self._journal(trace_id).steps
            steps.append(inverse)
            if self._change is not None:
                self._change.journal.append(
                    JournalEvent("step", trace_id, index=len(steps) - 1, step=inverse)
                )
        return ImprintResult(entry_id, self.version, op)

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
        if journal is None:
            return 0
        change = self._begin()
        change.journal.append(JournalEvent("close", trace_id))
        self._finish(change)
        return len(journal.steps)

    discard = commit

    def rollback(self, trace_id: str) -> int:
        """Undo ``trace_id``'s writes newest-first; return how many inverse ops ran.

        Each journal entry runs at most once: a second rollback returns 0.
        """
        journal = self._journals.pop(trace_id, None)
        if journal is None:
            return 0
        change = self._begin()
        change.journal.append(JournalEvent("close", trace_id))
        done = 0
        try:
            while journal.steps:
                step = journal.steps.pop()
                self._apply_inverse(step)
                done += 1
            if done:
                self.version += 1
        finally:
            self._finish(change)
        return done

    def journal_size(self, trace_id: str) -> int:
        """Inverse ops waiting in ``trace_id``'s journal."""
        journal = self._journals.get(trace_id)
        return len(journal.steps) if journal else 0

    def has_stake(self, trace_id: str) -> bool:
        """True when this Engram holds a journal for ``trace_id``."""
        return trace_id in self._journals

    # -- internals -------------------------------------------------------------------------

    def restore_state(
        self,
        *,
        version: int,
        merge_keys: Mapping[str, str],
        journals: Iterable[tuple[str, float, list[JournalStep]]],
        imprints: Iterable[tuple[str, ImprintResult]],
    ) -> None:
        """For durable subclasses: replace the saga state with what storage holds.

        ``merge_keys`` maps entry ids to their merge keys; ``journals`` are ``(trace_id,
        created, steps)`` oldest first, ``created`` on the ``time.monotonic()`` clock;
        ``imprints`` are remembered ids, oldest first.
        """
        self.version = version
        self._merge_index = {key: entry_id for entry_id, key in merge_keys.items()}
        self._key_of = dict(merge_keys)
        self._journals = OrderedDict(
            (trace_id, _Journal(created, list(steps))) for trace_id, created, steps in journals
        )
        self._seen = OrderedDict(imprints)
        while len(self._seen) > self._dedup_window:
            self._seen.popitem(last=False)

    def _persist(self, change: EngramChange) -> None:
        """Durable subclasses commit ``change`` here, or raise EngramStoreError after
        putting the in-memory state back to what storage holds. The base keeps nothing."""
        return

    def _begin(self) -> EngramChange:
        change = EngramChange()
        self._change = change
        return change

    def _finish(self, change: EngramChange) -> None:
        self._change = None
        if change.entries or change.journal or change.imprint is not None:
            for entry_id in change.entries:
                change.entries[entry_id] = self._key_of.get(entry_id)
            change.version = self.version
            self._persist(change)

    def _touch(self, entry_id: str) -> None:
        if self._change is not None:
            self._change.entries[entry_id] = None

    def _apply_inverse(self, step: JournalStep) -> None:
        self._touch(step.entry_id)
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
            self._event(JournalEvent("open", trace_id, created=journal.created))
            while len(self._journals) > self.max_journals:
                old, dropped = self._journals.popitem(last=False)
                self._event(JournalEvent("close", old))
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
            self._event(JournalEvent("close", trace_id))
            self.expired_journals += 1
            log.warning(
                "engram %s: saga journal of %s expired after %.0f s with %d ops; that trace "
                "can no longer be rolled back",
                self.engram_id,
                trace_id,
                self.journal_ttl_s,
                len(journal.steps),
            )

    def _event(self, event: JournalEvent) -> None:
        if self._change is not None:
            self._change.journal.append(event)

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


def _kind_class(kind: str) -> Any:
    """The class registered as ``kind`` in the ``cosmonapse.engrams`` entry points (the
    SDK's own ``memory`` and ``sqlite`` among them)."""
    return _plugins.load(_plugins.ENGRAMS, kind)
