"""VectorEngram: cosine top-k recall over a contiguous float32 matrix.

Storage layout: row ``r`` of ``_matrix`` holds the unit-length embedding of the entry whose
id is ``_ids[r]`` and whose other fields are ``_fields[r]``; ``_row`` maps ids back to rows.
Rows ``[0, len)`` are live, the rest is spare capacity. Appending writes the next spare row
and doubles the capacity when there is none (amortised O(1)); deleting moves the last live
row into the hole (O(1)) and halves the capacity once three quarters of it are spare, so
memory follows the live size in both directions.

The op semantics, merge-key index, idempotency and the saga journal all come from
:class:`cosmonapse.engram.Engram`; this module only supplies its storage primitives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from cosmonapse import EngramError, EngramStoreError
from cosmonapse.engram import Engram, EngramChange, Hit
from cosmonapse.engram_store import EngramStore

from ._codec import VectorCodec
from ._vectors import FloatRow, StoredVector, to_unit

__all__ = ["EmbedFunction", "VectorEngram"]

EmbedFunction = Callable[[str], Sequence[float] | npt.NDArray[Any]]
"""``embed(text) -> vector``: a fast, local, synchronous function (it runs inside the event
loop of the Dendrite hosting the Engram)."""

_QUERY_KEYS = frozenset({"embedding", "text", "include_embedding"})
_FIRST_FETCH = 64  # candidates ranked before the first filter pass
_FETCH_GROWTH = 4  # over-fetch factor while filters keep rejecting candidates


class VectorEngram(Engram):
    """Semantic memory: entries with an embedding, recalled by cosine similarity.

    **Entries.** Each entry carries an ``embedding`` (a flat list of numbers) or a ``text``
    that ``embed`` turns into one; when both are present the given ``embedding`` is used.
    Every other field is stored as given and returned in hits. The embedding is kept only
    as a unit-length float32 row of the matrix, not inside the entry, so hits leave it out
    unless the query asks for it with ``"include_embedding": true`` (and then it is that
    unit vector). ``dim`` is fixed by the constructor or else by the first stored entry,
    and stays fixed. A ``merge`` that changes ``text`` re-embeds it when the old vector
    came from ``embed``; a vector the caller supplied is kept until replaced.

    **Queries.** ``{"embedding": [...]}`` or ``{"text": "..."}`` (with ``embed``), plus
    the base options ``top_k``, ``filters`` and ``min_confidence``. ``filters`` keep
    entries whose fields equal every given value (Python ``==``; a missing field counts as
    ``None``; the key ``"id"`` matches the entry id). Hits are ordered by cosine
    similarity, best first, ties by entry id ascending, and are always the true top-k among
    entries that pass the filters. A hit's ``score`` is the cosine clipped to ``[0, 1]``;
    ``min_confidence`` keeps hits whose score is at least that value.

    **Errors.** Every bad entry or query raises :class:`~cosmonapse.EngramError` naming
    the problem: a missing, empty, non-numeric, NaN/infinite or all-zero embedding, a
    dimension mismatch, ``text`` with no ``embed`` function, an ``embed`` that fails or
    returns a bad vector, an unknown query key, a bad ``min_confidence``. The Engram is
    left unchanged.

    **Durable.** With ``path``, entries and saga journals are also kept in that SQLite
    file, each write committed before it returns, and a new VectorEngram on the same path
    loads them back; recall still runs on the in-memory matrix. ``sync`` and
    ``max_size_bytes`` are those of :class:`cosmonapse.engram_store.EngramStore`; a store
    failure raises :class:`~cosmonapse.EngramStoreError` naming the path
    (docs/engrams.md).

    Constructor arguments: ``dim`` (None or a positive int), ``embed`` (None or a
    callable), ``initial_capacity`` (rows allocated at first; positive), ``path``,
    ``sync``, ``max_size_bytes``, and the base class options ``journal_ttl_s``,
    ``max_journals``, ``dedup_window``. A bad argument raises ``ValueError`` or
    ``TypeError``.
    """

    engram_kind = "semantic"

    def __init__(
        self,
        engram_id: str,
        engram_kind: str | None = "semantic",
        *,
        dim: int | None = None,
        embed: EmbedFunction | None = None,
        initial_capacity: int = 1024,
        path: str | Path | None = None,
        sync: Literal["full", "normal"] = "full",
        max_size_bytes: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(engram_id, engram_kind, **options)
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 1):
            raise ValueError(f"dim must be None or a positive integer, got {dim!r}")
        if embed is not None and not callable(embed):
            raise TypeError(f"embed must be a callable text -> vector, got {type(embed).__name__}")
        if (
            not isinstance(initial_capacity, int)
            or isinstance(initial_capacity, bool)
            or initial_capacity < 1
        ):
            raise ValueError(
                f"initial_capacity must be a positive integer, got {initial_capacity!r}"
            )
        self._dim = dim
        self._embed = embed
        self._min_capacity = initial_capacity
        # Allocated by the first _put, once the dimension is known.
        self._matrix: FloatRow | None = None
        self._ids: list[str] = []
        self._fields: list[dict[str, Any]] = []
        self._from_text: list[bool] = []
        self._row: dict[str, int] = {}
        self.path = None if path is None else Path(path)
        self._store: EngramStore | None = None
        if self.path is not None:
            self._store = EngramStore(
                self.path,
                engram_id=engram_id,
                store_kind="vector",
                codec=VectorCodec(),
                sync=sync,
                max_size_bytes=max_size_bytes,
                dedup_window=int(options.get("dedup_window", 10_000)),
            )
            try:
                self._reload()
            except BaseException:
                self._store.close()
                raise

    # -- introspection -----------------------------------------------------------------

    @property
    def dim(self) -> int | None:
        """The embedding dimension, or None until the first entry fixes it."""
        return self._dim

    @property
    def capacity(self) -> int:
        """Rows currently allocated (live entries plus spare room)."""
        return 0 if self._matrix is None else int(self._matrix.shape[0])

    def __len__(self) -> int:
        return len(self._ids)

    # -- durability ----------------------------------------------------------------------

    def _persist(self, change: EngramChange) -> None:
        if self._store is None:
            return
        try:
            self._store.commit(change, self._get)
        except EngramStoreError:
            if not self._store.closed:
                self._reload()  # memory back to what the file holds
            raise

    def _reload(self) -> None:
        assert self._store is not None
        state = self._store.load()
        units = [entry["embedding"].unit for _, entry in state.entries]
        dims = {unit.shape[0] for unit in units}
        if len(dims) > 1 or (units and self._dim is not None and dims != {self._dim}):
            found = ", ".join(str(d) for d in sorted(dims))
            raise EngramStoreError(
                f"{self.path} holds vectors of {found} dimensions, expected "
                f"{self._dim if self._dim is not None else 'one size'}",
                path=str(self.path),
            )
        self._ids = [entry_id for entry_id, _ in state.entries]
        self._fields = [
            {k: v for k, v in entry.items() if k != "embedding"} for _, entry in state.entries
        ]
        self._from_text = [entry["embedding"].source_text is not None for _, entry in state.entries]
        self._row = {entry_id: row for row, entry_id in enumerate(self._ids)}
        self._matrix = None
        if units:
            self._dim = units[0].shape[0]
            capacity = self._min_capacity
            while capacity < len(units):
                capacity *= 2
            self._matrix = np.zeros((capacity, units[0].shape[0]), dtype=np.float32)
            self._matrix[: len(units)] = np.stack(units)
        self.restore_state(
            version=state.version,
            merge_keys=state.merge_keys,
            journals=state.journals,
            imprints=state.imprints,
        )

    def backup(self, destination: str | Path) -> None:
        """Copy the committed store to ``destination`` while this Engram stays open."""
        if self._store is None:
            raise EngramError(f"VectorEngram {self.engram_id!r} has no path to back up")
        self._store.backup(destination)

    def close(self) -> None:
        """Release the store file and its lock (nothing to do without ``path``)."""
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- storage primitives ------------------------------------------------------------

    def _prepare(self, entry: dict[str, Any]) -> dict[str, Any]:
        vector = entry.get("embedding")
        text = entry.get("text")
        stored: StoredVector
        if vector is None:
            if text is None:
                raise EngramError(
                    "entry needs an 'embedding' (a list of numbers) or a 'text' to embed"
                )
            stored = StoredVector(self._embed_text(text, what="entry"), text)
        elif isinstance(vector, StoredVector):
            # Carried over from the prior entry by a merge.
            stored = vector
            if vector.source_text is not None and text != vector.source_text:
                if isinstance(text, str):
                    stored = StoredVector(self._embed_text(text, what="entry"), text)
                else:
                    stored = StoredVector(vector.unit, None)
        else:
            stored = StoredVector(to_unit(vector, what="entry 'embedding'", dim=self._dim), None)
        prepared = {k: v for k, v in entry.items() if k != "embedding"}
        prepared["embedding"] = stored
        return prepared

    def _get(self, entry_id: str) -> dict[str, Any] | None:
        row = self._row.get(entry_id)
        return None if row is None else self._lift(row)

    def _put(self, entry_id: str, entry: dict[str, Any]) -> None:
        stored = entry.get("embedding")
        if not isinstance(stored, StoredVector):
            # Only _prepare, _get and _remove produce entries for _put.
            raise TypeError("VectorEngram._put needs an entry that went through _prepare")
        fields = {k: v for k, v in entry.items() if k != "embedding"}
        row = self._row.get(entry_id)
        if row is None:
            row = self._append_row(entry_id, stored.unit.shape[0])
        assert self._matrix is not None
        self._matrix[row] = stored.unit
        self._fields[row] = fields
        self._from_text[row] = stored.source_text is not None

    def _remove(self, entry_id: str) -> dict[str, Any] | None:
        row = self._row.pop(entry_id, None)
        if row is None:
            return None
        removed = self._lift(row)
        assert self._matrix is not None
        last = len(self._ids) - 1
        if row != last:
            moved = self._ids[last]
            self._matrix[row] = self._matrix[last]
            self._ids[row] = moved
            self._fields[row] = self._fields[last]
            self._from_text[row] = self._from_text[last]
            self._row[moved] = row
        self._ids.pop()
        self._fields.pop()
        self._from_text.pop()
        self._maybe_shrink()
        return removed

    def _search(
        self,
        query: Mapping[str, Any],
        *,
        top_k: int,
        filters: Mapping[str, Any],
        min_confidence: float | None,
    ) -> list[Hit]:
        unit, include_embedding = self._read_query(query)
        floor = _read_min_confidence(min_confidence)
        if "embedding" in filters:
            raise EngramError("filters cannot test 'embedding'; query by it instead")
        count = len(self._ids)
        if count == 0 or floor > 1.0:
            return []
        assert self._matrix is not None
        scores = self._matrix[:count] @ unit
        rows: npt.NDArray[np.intp] | None = None
        if floor > 0.0:
            # For a floor in (0, 1], raw cosine >= floor exactly when the clipped score is.
            rows = np.flatnonzero(scores >= floor)
            scores = scores[rows]
        if filters:
            picked = self._filtered(scores, rows, top_k, filters)
        else:
            picked = self._ranked(scores, rows, top_k)
        return [self._hit(row, score, include_embedding) for row, score in picked]

    # -- internals -------------------------------------------------------------------------

    def _lift(self, row: int) -> dict[str, Any]:
        assert self._matrix is not None
        fields = self._fields[row]
        source = fields.get("text") if self._from_text[row] else None
        unit = self._matrix[row].copy()
        return {**fields, "embedding": StoredVector(unit, source)}

    def _append_row(self, entry_id: str, dim: int) -> int:
        if self._matrix is None:
            self._dim = dim
            self._matrix = np.zeros((self._min_capacity, dim), dtype=np.float32)
        row = len(self._ids)
        if row == self._matrix.shape[0]:
            self._resize(2 * row)
        self._ids.append(entry_id)
        self._fields.append({})
        self._from_text.append(False)
        self._row[entry_id] = row
        return row

    def _maybe_shrink(self) -> None:
        assert self._matrix is not None
        capacity = self._matrix.shape[0]
        # Shrinking at a quarter (not a half) keeps an add/delete pair at the boundary
        # from reallocating every time.
        if capacity > self._min_capacity and len(self._ids) <= capacity // 4:
            self._resize(max(capacity // 2, self._min_capacity))

    def _resize(self, capacity: int) -> None:
        assert self._matrix is not None
        grown = np.zeros((capacity, self._matrix.shape[1]), dtype=np.float32)
        live = len(self._ids)
        grown[:live] = self._matrix[:live]
        self._matrix = grown

    def _embed_text(self, text: object, *, what: str) -> FloatRow:
        if self._embed is None:
            raise EngramError(
                f"{what} has 'text' but no 'embedding', and VectorEngram "
                f"{self.engram_id!r} has no embed function: send an 'embedding' or "
                "construct the Engram with embed="
            )
        if not isinstance(text, str):
            raise EngramError(f"{what} 'text' must be a string, got {type(text).__name__}")
        try:
            raw = self._embed(text)
        except EngramError:
            raise
        except Exception as exc:
            raise EngramError(f"embed() failed on the {what} text: {exc!r}") from exc
        return to_unit(raw, what=f"embed() result for the {what} text", dim=self._dim)

    def _read_query(self, query: Mapping[str, Any]) -> tuple[FloatRow, bool]:
        unknown = sorted(str(k) for k in query if k not in _QUERY_KEYS)
        if unknown:
            raise EngramError(
                f"unknown query key(s) {', '.join(unknown)}: a VectorEngram query takes "
                "'embedding' or 'text', and optionally 'top_k' and 'include_embedding'; "
                "match entry fields with filters"
            )
        include = query.get("include_embedding", False)
        if not isinstance(include, bool):
            raise EngramError(f"'include_embedding' must be true or false, got {include!r}")
        vector = query.get("embedding")
        if vector is not None:
            return to_unit(vector, what="query 'embedding'", dim=self._dim), include
        if query.get("text") is not None:
            return self._embed_text(query["text"], what="query"), include
        raise EngramError("query needs an 'embedding' (a list of numbers) or a 'text' to embed")

    def _order(
        self, scores: npt.NDArray[np.float32], rows: npt.NDArray[np.intp] | None, limit: int
    ) -> npt.NDArray[np.intp]:
        """Positions in ``scores`` of its best ``limit`` values: score descending, then
        entry id ascending. Deterministic, so a longer prefix extends a shorter one."""
        size = scores.shape[0]
        if limit < size:
            top = np.argpartition(scores, size - limit)[size - limit :]
            # Keep every value tied with the worst selected one: which of them argpartition
            # picked is arbitrary, the id tie-break below decides.
            picked = np.flatnonzero(scores >= scores[top].min())
        else:
            picked = np.arange(size)
        order = picked[np.argsort(-scores[picked], kind="stable")]
        ranked = scores[order]
        if order.shape[0] > 1 and bool(np.any(ranked[1:] == ranked[:-1])):
            ids = self._ids

            def key(position: int) -> tuple[float, str]:
                row = position if rows is None else int(rows[position])
                return (-float(scores[position]), ids[row])

            order = np.array(sorted(order.tolist(), key=key), dtype=np.intp)
        return order[:limit]

    def _ranked(
        self, scores: npt.NDArray[np.float32], rows: npt.NDArray[np.intp] | None, top_k: int
    ) -> list[tuple[int, float]]:
        order = self._order(scores, rows, top_k)
        real = order if rows is None else rows[order]
        return list(zip(real.tolist(), scores[order].tolist(), strict=True))

    def _filtered(
        self,
        scores: npt.NDArray[np.float32],
        rows: npt.NDArray[np.intp] | None,
        top_k: int,
        filters: Mapping[str, Any],
    ) -> list[tuple[int, float]]:
        # Walk candidates best-first, ranking a few times more than needed and growing the
        # window while filters reject them. Because the order is total (score, then id), a
        # larger window only appends to the smaller one, so each candidate is tested once
        # and the result is the exact top-k among matching rows.
        size = scores.shape[0]
        wanted = list(filters.items())
        found: list[tuple[int, float]] = []
        checked = 0
        window = max(_FIRST_FETCH, top_k * _FETCH_GROWTH)
        while checked < size:
            order = self._order(scores, rows, min(window, size))
            for position in order[checked:].tolist():
                row = position if rows is None else int(rows[position])
                if self._matches(row, wanted):
                    found.append((row, float(scores[position])))
                    if len(found) == top_k:
                        return found
            checked = order.shape[0]
            window *= _FETCH_GROWTH
        return found

    def _matches(self, row: int, wanted: list[tuple[str, Any]]) -> bool:
        fields = self._fields[row]
        for key, value in wanted:
            actual = self._ids[row] if key == "id" else fields.get(key)
            if actual != value:
                return False
        return True

    def _hit(self, row: int, cosine: float, include_embedding: bool) -> Hit:
        entry = dict(self._fields[row])
        if include_embedding:
            assert self._matrix is not None
            entry["embedding"] = self._matrix[row].tolist()
        return Hit(self._ids[row], entry, min(max(cosine, 0.0), 1.0))


def _read_min_confidence(value: object) -> float:
    """The score floor; 0.0 (no floor) when None."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EngramError(f"min_confidence must be a number, got {type(value).__name__}")
    if math.isnan(value):
        raise EngramError("min_confidence must be a number, got NaN")
    return float(value)
