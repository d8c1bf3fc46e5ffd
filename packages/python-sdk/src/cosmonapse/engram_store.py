"""The SQLite file behind a durable Engram: its entries, saga journals, version and
remembered imprint ids, each operation committed in one transaction (docs/engrams.md).

The file is opened in WAL mode with an exclusive lock that SQLite holds until the store is
closed or its process dies, so a second process (or a second store in this one) opening
the same path gets :class:`~cosmonapse.EngramStoreError` instead of a shared store. An
entry is kept as a JSON body plus an optional blob; what goes into them is the Engram's
:class:`EntryCodec`. Every failure is an ``EngramStoreError`` naming the path.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from .engram import EngramChange, ImprintResult, JournalStep
from .exceptions import EngramStoreError

__all__ = ["EngramStore", "EntryCodec", "StoredState"]

log = logging.getLogger("cosmonapse.engram")

FORMAT = "cosmonapse-engram"
SCHEMA = "1"
_TRIM_EVERY = 512  # imprint ids written between two trims of the dedup window

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, merge_key TEXT,
    body BLOB NOT NULL, blob BLOB);
CREATE TABLE journals (trace_id TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE steps (
    trace_id TEXT NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL,
    entry_id TEXT NOT NULL, prior BLOB, prior_blob BLOB, merge_key TEXT,
    prior_merge_key TEXT, PRIMARY KEY (trace_id, idx)) WITHOUT ROWID;
CREATE TABLE imprints (
    seq INTEGER PRIMARY KEY, imprint_id TEXT NOT NULL UNIQUE, entry_id TEXT,
    version INTEGER NOT NULL, op TEXT NOT NULL);
"""


class EntryCodec(Protocol):
    """How an Engram's stored entries become rows and back (``blob`` may be None)."""

    def encode(self, entry: dict[str, Any]) -> tuple[bytes, bytes | None]: ...

    def decode(self, body: bytes, blob: bytes | None) -> dict[str, Any]: ...


@dataclass(slots=True)
class StoredState:
    """Everything a store holds, as :meth:`EngramStore.load` reads it: entries oldest
    write first, journals oldest first with ``created`` on the ``time.monotonic()`` clock."""

    version: int = 0
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    merge_keys: dict[str, str] = field(default_factory=dict)
    journals: list[tuple[str, float, list[JournalStep]]] = field(default_factory=list)
    imprints: list[tuple[str, ImprintResult]] = field(default_factory=list)


class EngramStore:
    """One engram store file, opened and locked by this process.

    ``store_kind`` names the entry format (``"kv"``, ``"vector"``): a file written for
    another kind or another ``engram_id`` is refused. ``sync`` is SQLite's ``synchronous``
    (``"full"``: a commit survives power loss; ``"normal"``: it survives a crash of the
    process). ``max_size_bytes`` caps the file: a write past it fails like a full disk.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        engram_id: str,
        store_kind: str,
        codec: EntryCodec,
        sync: Literal["full", "normal"] = "full",
        max_size_bytes: int | None = None,
        dedup_window: int = 10_000,
    ) -> None:
        if sync not in ("full", "normal"):
            raise ValueError(f"sync must be 'full' or 'normal', got {sync!r}")
        if max_size_bytes is not None and (
            not isinstance(max_size_bytes, int) or max_size_bytes < 1
        ):
            raise ValueError(f"max_size_bytes must be a positive integer, got {max_size_bytes!r}")
        self.path = Path(path)
        self.engram_id = engram_id
        self.store_kind = store_kind
        self._codec = codec
        self._writes = 0
        self.dedup_window = dedup_window
        self.closed = False
        if self.path.is_dir():
            raise EngramStoreError(
                f"{self.path} is a directory, not an engram store", path=str(path)
            )
        try:
            # timeout=0: a store held by another process is refused at once, not waited on.
            self._conn = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(f"cannot open {self.path}: {exc}") from exc
        try:
            self._setup(sync, max_size_bytes)
        except BaseException:
            self._conn.close()
            raise

    # -- opening -----------------------------------------------------------------------

    def _setup(self, sync: str, max_size_bytes: int | None) -> None:
        conn = self._conn
        try:
            # Exclusive before WAL: SQLite then keeps the WAL index in this process's memory
            # and holds the file lock until close (or until the process dies).
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise self._error(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous={sync.upper()}")
            conn.execute("BEGIN EXCLUSIVE")
            self._check_or_create()
            conn.execute("COMMIT")
            if max_size_bytes is not None:
                page = int(conn.execute("PRAGMA page_size").fetchone()[0])
                conn.execute(f"PRAGMA max_page_count={max(1, max_size_bytes // page)}")
        except EngramStoreError:
            raise
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise self._error(
                    f"{self.path} is in use by another engram host (the file is locked); "
                    "a store is opened by one process at a time"
                ) from exc
            raise self._error(f"{self.path} is not a readable engram store: {exc}") from exc
        except sqlite3.Error as exc:
            raise self._error(f"{self.path} is not a readable engram store: {exc}") from exc

    def _check_or_create(self) -> None:
        conn = self._conn
        tables = sorted(
            str(row[0])
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )
        if not tables:
            for statement in _TABLES.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("format", FORMAT),
                    ("schema", SCHEMA),
                    ("engram_id", self.engram_id),
                    ("store_kind", self.store_kind),
                    ("version", "0"),
                    ("created", f"{time.time():.6f}"),
                ],
            )
            return
        meta = (
            dict(conn.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        )
        if meta.get("format") != FORMAT:
            raise self._error(
                f"{self.path} is an SQLite database but not a Cosmonapse engram store "
                f"(its tables: {', '.join(tables)})"
            )
        if meta.get("schema") != SCHEMA:
            raise self._error(
                f"{self.path} has engram store schema {meta.get('schema')!r}; this version "
                f"reads schema {SCHEMA!r}"
            )
        if meta.get("store_kind") != self.store_kind:
            raise self._error(
                f"{self.path} holds a {meta.get('store_kind')!r} engram store, not a "
                f"{self.store_kind!r} one"
            )
        if meta.get("engram_id") != self.engram_id:
            raise self._error(
                f"{self.path} belongs to engram {meta.get('engram_id')!r}, not {self.engram_id!r}"
            )

    # -- reading -----------------------------------------------------------------------

    def load(self) -> StoredState:
        """Read the whole store back. Raises EngramStoreError for a corrupt file."""
        state = StoredState()
        decode = self._codec.decode
        entry_id = ""
        try:
            conn = self._conn
            state.version = int(
                conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]
            )
            rows = conn.execute("SELECT id, merge_key, body, blob FROM entries ORDER BY seq")
            for entry_id, merge_key, body, blob in rows:
                state.entries.append((entry_id, decode(body, blob)))
                if merge_key is not None:
                    state.merge_keys[entry_id] = merge_key
            entry_id = ""
            offset = time.monotonic() - time.time()  # wall clock -> this process's clock
            steps: dict[str, list[JournalStep]] = {}
            for trace_id, kind, step_entry, prior, prior_blob, key, prior_key in conn.execute(
                "SELECT trace_id, kind, entry_id, prior, prior_blob, merge_key, "
                "prior_merge_key FROM steps ORDER BY trace_id, idx"
            ):
                if kind not in ("delete", "restore"):
                    raise ValueError(f"unknown journal step kind {kind!r}")
                entry = None if prior is None else decode(prior, prior_blob)
                step = JournalStep(kind, step_entry, entry, key, prior_key)
                steps.setdefault(trace_id, []).append(step)
            for trace_id, created in conn.execute(
                "SELECT trace_id, created FROM journals ORDER BY created, rowid"
            ):
                state.journals.append((trace_id, float(created) + offset, steps.get(trace_id, [])))
            for imprint_id, imprinted, version, op in conn.execute(
                "SELECT imprint_id, entry_id, version, op FROM imprints ORDER BY seq"
            ):
                state.imprints.append((imprint_id, ImprintResult(imprinted, int(version), op)))
        except EngramStoreError:
            raise
        except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:
            where = f" (entry {entry_id!r})" if entry_id else ""
            raise self._error(f"{self.path} is corrupt{where}: {exc}") from exc
        return state

    # -- writing -----------------------------------------------------------------------

    def commit(self, change: EngramChange, current: Callable[[str], dict[str, Any] | None]) -> None:
        """Write ``change`` in one transaction; ``current(entry_id)`` reads an entry as it
        is now (None: removed). Raises EngramStoreError, with nothing written, on failure."""
        if self.closed:
            raise self._error(f"engram {self.engram_id!r}: its store {self.path} is closed")
        conn = self._conn
        encode = self._codec.encode
        try:
            conn.execute("BEGIN IMMEDIATE")
            for entry_id, merge_key in change.entries.items():
                entry = current(entry_id)
                if entry is None:
                    conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
                    continue
                body, blob = encode(entry)
                conn.execute(
                    "INSERT OR REPLACE INTO entries (id, merge_key, body, blob) VALUES (?,?,?,?)",
                    (entry_id, merge_key, body, blob),
                )
            for event in change.journal:
                self._journal_event(
                    event.kind, event.trace_id, event.created, event.index, event.step
                )
            if change.imprint is not None:
                imprint_id, result = change.imprint
                conn.execute(
                    "INSERT OR REPLACE INTO imprints (imprint_id, entry_id, version, op) "
                    "VALUES (?, ?, ?, ?)",
                    (imprint_id, result.id, result.version, result.op),
                )
                self._writes += 1
                if self._writes % _TRIM_EVERY == 0:
                    self._trim_imprints()
            conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(change.version),))
            conn.execute("COMMIT")
        except (sqlite3.Error, TypeError, ValueError) as exc:
            if conn.in_transaction:
                # SQLite may already have rolled back (SQLITE_FULL at commit).
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.error("engram %s: a write to %s failed: %s", self.engram_id, self.path, exc)
            raise self._error(
                f"engram {self.engram_id!r} could not commit the write to {self.path}: {exc}; "
                "nothing of it was stored"
            ) from exc

    def _trim_imprints(self) -> None:
        self._conn.execute(
            "DELETE FROM imprints WHERE seq <= (SELECT max(seq) FROM imprints) - ?",
            (self.dedup_window,),
        )

    def _journal_event(
        self, kind: str, trace_id: str, created: float, index: int, step: JournalStep | None
    ) -> None:
        conn = self._conn
        if kind == "open":
            wall = created + (time.time() - time.monotonic())
            conn.execute(
                "INSERT OR REPLACE INTO journals (trace_id, created) VALUES (?, ?)",
                (trace_id, wall),
            )
        elif kind == "close":
            conn.execute("DELETE FROM steps WHERE trace_id = ?", (trace_id,))
            conn.execute("DELETE FROM journals WHERE trace_id = ?", (trace_id,))
        elif step is not None:
            prior, prior_blob = (
                (None, None) if step.prior is None else self._codec.encode(step.prior)
            )
            conn.execute(
                "INSERT OR REPLACE INTO steps (trace_id, idx, kind, entry_id, prior, "
                "prior_blob, merge_key, prior_merge_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trace_id,
                    index,
                    step.kind,
                    step.entry_id,
                    prior,
                    prior_blob,
                    step.merge_key,
                    step.prior_merge_key,
                ),
            )

    # -- the file ----------------------------------------------------------------------

    def backup(self, destination: str | Path) -> None:
        """Copy the committed store to ``destination`` while it stays open (SQLite's
        online backup); the copy opens as this store."""
        try:
            target = sqlite3.connect(destination)
            try:
                self._conn.backup(target)
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise self._error(f"backup of {self.path} to {destination} failed: {exc}") from exc

    def close(self) -> None:
        """Release the file (and its lock). Idempotent."""
        self.closed = True
        self._conn.close()

    def _error(self, message: str) -> EngramStoreError:
        return EngramStoreError(message, path=str(self.path))
