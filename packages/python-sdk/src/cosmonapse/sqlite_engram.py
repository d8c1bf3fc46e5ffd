"""SqliteEngram: the durable key-value Engram, kind ``sqlite``, on one SQLite file.

It answers like :class:`~cosmonapse.InMemoryEngram` (it keeps a copy of every entry in
memory) and commits each write, with its saga journal step, in one SQLite transaction
before the write returns, so an acknowledged IMPRINT survives a crash of its host and a
restarted host can still roll back a trace begun before the crash (docs/engrams.md).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import orjson

from .engram import EngramChange, InMemoryEngram
from .engram_store import EngramStore
from .exceptions import EngramError, EngramStoreError

__all__ = ["SqliteEngram"]


class _JsonCodec:
    """Entries are JSON objects: stored as their orjson bytes, no blob."""

    def encode(self, entry: dict[str, Any]) -> tuple[bytes, bytes | None]:
        return orjson.dumps(entry), None

    def decode(self, body: bytes, blob: bytes | None) -> dict[str, Any]:
        entry = orjson.loads(body)
        if not isinstance(entry, dict):
            raise ValueError(f"an entry must be a JSON object, found {type(entry).__name__}")
        return entry


class SqliteEngram(InMemoryEngram):
    """A durable :class:`~cosmonapse.InMemoryEngram` whose entries and saga journals live in
    the SQLite file at ``path`` (created when missing, reloaded when present).

    ``sync="full"`` (the default) makes each commit survive power loss; ``"normal"`` only a
    crash of the process, and is faster. ``max_size_bytes`` caps the file. Entries must be
    JSON objects. Raises :class:`~cosmonapse.EngramStoreError` (naming the path) for a
    file that is not this Engram's store, is corrupt, or is open in another process; a
    write that cannot be committed raises it too and changes nothing.
    """

    engram_kind = "sqlite"

    def __init__(
        self,
        engram_id: str,
        engram_kind: str | None = None,
        *,
        path: str | Path,
        sync: Literal["full", "normal"] = "full",
        max_size_bytes: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(engram_id, engram_kind, **options)
        self.path = Path(path)
        self._store = EngramStore(
            self.path,
            engram_id=engram_id,
            store_kind="kv",
            codec=_JsonCodec(),
            sync=sync,
            max_size_bytes=max_size_bytes,
            dedup_window=int(options.get("dedup_window", 10_000)),
        )
        try:
            self._reload()
        except BaseException:
            self._store.close()
            raise

    def _prepare(self, entry: dict[str, Any]) -> dict[str, Any]:
        # Stored as it will read back after a restart.
        try:
            stored = orjson.loads(orjson.dumps(entry))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise EngramError(f"a SqliteEngram entry must be JSON: {exc}") from exc
        assert isinstance(stored, dict)
        return stored

    def _persist(self, change: EngramChange) -> None:
        try:
            self._store.commit(change, self._entries.get)
        except EngramStoreError:
            if not self._store.closed:
                self._reload()  # memory back to what the file holds
            raise

    def _reload(self) -> None:
        state = self._store.load()
        self._entries = dict(state.entries)
        self.restore_state(
            version=state.version,
            merge_keys=state.merge_keys,
            journals=state.journals,
            imprints=state.imprints,
        )

    def backup(self, destination: str | Path) -> None:
        """Copy the committed store to ``destination`` while this Engram stays open."""
        self._store.backup(destination)

    def close(self) -> None:
        """Release the file and its lock; later writes raise EngramStoreError."""
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
