"""KeyValueEngram: one ``value`` per ``key``, with the core's saga journal.

The op semantics, idempotency by imprint id and the per-trace saga journal (rollback,
commit) all come from :class:`cosmonapse.Engram`; this module adds the key rule (the key
is the entry id, so a key is never stored twice) and the five storage primitives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cosmonapse import Engram, EngramError, Hit, ImprintResult

__all__ = ["KeyValueEngram"]

_FIELDS = frozenset({"key", "value"})
_QUERY_KEYS = frozenset({"key", "prefix"})
_KEYED_OPS = frozenset({"add", "append", "merge", "upsert", "delete"})


class KeyValueEngram(Engram):
    """A dict of ``key -> value`` reached over the bus (Engram kind ``kv``).

    **Entries** are ``{"key": str, "value": <any JSON value>}``; the key is also the entry
    id. Writes name the key in ``entry["key"]``, in ``merge_key`` or (for ``delete``) in
    ``entry["id"]``; when more than one is given they must agree. ``upsert`` sets the
    value, ``merge`` shallow-merges into the stored entry, ``add`` / ``append`` refuse a
    key that exists, ``delete`` removes the key (a missing key is not an error).

    **Queries**: ``{}`` (every entry), ``{"key": k}`` (that key) or ``{"prefix": p}``
    (keys starting with ``p``), plus ``filters`` that keep entries whose fields equal the
    given values. Hits come sorted by key, each with score 1.0.

    **Errors**: a bad entry or query raises :class:`~cosmonapse.EngramError` naming the
    problem; the hosting Dendrite sends it back on the IMPRINTED / RECALLED reply.

    Like every Engram it runs inside the event loop of the Dendrite that hosts it, and its
    primitives are O(1) except recall, which is O(n log n) over the stored keys.
    """

    engram_kind = "kv"

    def __init__(self, engram_id: str, engram_kind: str | None = None, **options: Any) -> None:
        super().__init__(engram_id, engram_kind, **options)
        self._entries: dict[str, dict[str, Any]] = {}

    def imprint(
        self,
        *,
        op: str,
        entry: Mapping[str, Any] | None = None,
        merge_key: str | None = None,
        trace_id: str | None = None,
        imprint_id: str | None = None,
    ) -> ImprintResult:
        """Apply one write, keyed as the class docstring says (see :meth:`Engram.imprint`).

        Only the shape of the write is checked here, never the stored state, so an IMPRINT
        delivered twice still reaches the base class's idempotency check unchanged.
        """
        if op in _KEYED_OPS and (entry is None or isinstance(entry, Mapping)):
            body = dict(entry or {})
            key = _the_key(op, body, merge_key)
            if op == "delete":
                body, merge_key = {"id": key}, None
            else:
                # The key is the entry id and the merge key: the base class then refuses
                # an add of a stored key, and upsert / merge find the stored entry.
                body["key"] = body["id"] = merge_key = key
            entry = body
        return super().imprint(
            op=op, entry=entry, merge_key=merge_key, trace_id=trace_id, imprint_id=imprint_id
        )

    # -- storage primitives --------------------------------------------------------------

    def _prepare(self, entry: dict[str, Any]) -> dict[str, Any]:
        extra = set(entry) - _FIELDS
        if extra:
            raise EngramError(
                f"a kv entry has only 'key' and 'value'; unexpected: {', '.join(sorted(extra))}"
            )
        if "value" not in entry:
            raise EngramError(f"the kv entry {entry.get('key')!r} needs a 'value'")
        return entry

    def _get(self, entry_id: str) -> dict[str, Any] | None:
        return self._entries.get(entry_id)

    def _put(self, entry_id: str, entry: dict[str, Any]) -> None:
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
        unknown = set(query) - _QUERY_KEYS
        if unknown:
            raise EngramError(
                f"a kv query takes 'key' or 'prefix'; unexpected: {', '.join(sorted(unknown))}"
            )
        if min_confidence is not None and min_confidence > 1.0:
            return []  # every hit scores exactly 1.0
        key, prefix = query.get("key"), query.get("prefix")
        if key is not None and not isinstance(key, str):
            raise EngramError("query 'key' must be a string")
        if prefix is not None and not isinstance(prefix, str):
            raise EngramError("query 'prefix' must be a string")
        if key is not None:
            candidates = [key] if key in self._entries else []
        else:
            candidates = sorted(k for k in self._entries if k.startswith(prefix or ""))
        hits: list[Hit] = []
        for entry_id in candidates:
            entry = self._entries[entry_id]
            if any(
                (entry_id if field == "id" else entry.get(field)) != wanted
                for field, wanted in filters.items()
            ):
                continue
            hits.append(Hit(entry_id, dict(entry), 1.0))
            if len(hits) >= top_k:
                break
        return hits


def _the_key(op: str, body: Mapping[str, Any], merge_key: str | None) -> str:
    """The one key a write names; raises EngramError when it names none or several."""
    named: list[Any] = []
    for value in (body.get("key"), merge_key, body.get("id")):
        if value is not None and value not in named:
            named.append(value)
    if not named:
        raise EngramError(f"kv {op} needs a key: entry.key or merge_key")
    if len(named) > 1:
        raise EngramError(f"kv {op} names different keys: {', '.join(map(repr, named))}")
    key = named[0]
    if not isinstance(key, str) or not key:
        raise EngramError(f"a kv key must be a non-empty string, got {key!r}")
    return key
