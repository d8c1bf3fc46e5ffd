"""Durable Engrams benchmark: what a committed IMPRINT costs, and how long a restart takes.

Run from the repository root with the packages installed::

    python benchmarks/bench_engram_store.py            # 100,000 x 384 load, under a minute
    python benchmarks/bench_engram_store.py --quick    # 10,000 rows

What it measures, all in one process, with the store files in a temporary directory:

* ``imprint(op="add")`` rate of a SqliteEngram (``sync="full"`` and ``"normal"``) against an
  InMemoryEngram, and the raw SQLite baseline: one INSERT and one COMMIT per row through
  ``sqlite3`` on a WAL file with the same ``synchronous`` setting;
* the same for VectorEngram with 384-float embeddings, durable against in memory;
* the time to open a VectorEngram of N x 384 entries from its file (the index loaded into
  the matrix, the journal read back), against reading the same float32 rows as blobs with
  plain ``sqlite3`` plus ``numpy.frombuffer``, and ``numpy.load`` of an ``.npy`` file.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _table import Options, Row, cpu_name, machine, parse_options, print_table, write_rows
from cosmonapse import Engram, InMemoryEngram, SqliteEngram
from cosmonapse_engram_vector import VectorEngram

DIM = 384


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, help="vectors loaded from disk (default 100,000)")
    parser.add_argument("--writes", type=int, help="imprints per rate figure (default 3,000)")


def imprint_rate(engram: Engram, entries: list[dict[str, object]], trace: bool) -> float:
    began = time.perf_counter()
    for i, entry in enumerate(entries):
        engram.imprint(op="add", entry=entry, trace_id=f"trc_{i // 8}" if trace else None)
    return len(entries) / (time.perf_counter() - began)


def raw_sqlite_rate(path: Path, bodies: list[bytes], sync: str) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    began = time.perf_counter()
    for body in bodies:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
    rate = len(bodies) / (time.perf_counter() - began)
    conn.close()
    return rate


def timed_s(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


async def main(opts: Options | None = None, args: argparse.Namespace | None = None) -> list[Row]:
    """The rows of the table (the work is synchronous, as an Engram's is)."""
    opts = opts or Options()
    if args is None:
        _, args = parse_options("", [], options)
    return measure(opts, args)


def measure(opts: Options, args: argparse.Namespace) -> list[Row]:
    rows = args.rows or opts.count(100_000, 10_000)
    writes = args.writes or opts.count(3_000, 300)
    rng = np.random.default_rng(3)
    table: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        kv_entries: list[dict[str, object]] = [
            {"doc": f"doc-{i}", "n": i, "text": "a short chunk of text " * 4} for i in range(writes)
        ]
        section = f"SqliteEngram, {writes:,} imprints (trace per 8)"
        memory = imprint_rate(InMemoryEngram("m"), kv_entries, True)
        print(f"kv in memory     : {memory:,.0f} imprints/s")
        for sync in ("full", "normal"):
            with SqliteEngram("kv", path=folder / f"kv-{sync}.db", sync=sync) as kv:
                durable = imprint_rate(kv, kv_entries, True)
            raw = raw_sqlite_rate(folder / f"raw-{sync}.db", [b"x" * 120] * writes, sync)
            print(f"kv sync={sync:<7}: {durable:,.0f} imprints/s; raw sqlite3 {raw:,.0f} commits/s")
            table.append(
                Row(
                    f"sqlite kv sync={sync}: imprint rate (vs raw sqlite3 commit)",
                    durable,
                    "/s",
                    raw,
                    section=section,
                )
            )
        table.append(Row("in-memory kv: imprint rate", memory, "/s", section=section))

        vectors = rng.standard_normal((writes, DIM), dtype=np.float32).tolist()
        vec_entries: list[dict[str, object]] = [
            {"embedding": v, "n": i} for i, v in enumerate(vectors)
        ]
        section = f"VectorEngram {DIM}-dim, {writes:,} imprints"
        memory = imprint_rate(VectorEngram(engram_id="m"), vec_entries, True)
        with VectorEngram(engram_id="v", path=folder / "vec-imprint.db") as durable_vectors:
            durable = imprint_rate(durable_vectors, vec_entries, True)
        print(f"vector imprints  : durable {durable:,.0f}/s, in memory {memory:,.0f}/s")
        table.append(
            Row(
                "vector durable (sync=full): imprint rate (vs in memory)",
                durable,
                "/s",
                memory,
                section=section,
            )
        )

        # The store to load: filled with sync="normal" (the load does not depend on it).
        data = rng.standard_normal((rows, DIM), dtype=np.float32)
        store = folder / "load.db"
        began = time.perf_counter()
        with VectorEngram(engram_id="load", path=store, sync="normal") as filling:
            for start in range(0, rows, 5_000):
                for i, row in enumerate(data[start : start + 5_000].tolist()):
                    filling.imprint(
                        op="add", entry={"embedding": row, "doc_id": f"doc-{start + i}"}
                    )
        size_mb = sum(p.stat().st_size for p in folder.glob("load.db*")) / 1e6
        print(
            f"filled           : {rows:,} x {DIM} in {time.perf_counter() - began:.1f} s, "
            f"{size_mb:.0f} MB"
        )

        def open_engram() -> None:
            with VectorEngram(engram_id="load", path=store) as loaded:
                assert len(loaded) == rows

        def raw_sqlite() -> None:
            conn = sqlite3.connect(store)
            blobs = [b[1:] for (b,) in conn.execute("SELECT blob FROM entries ORDER BY seq")]
            conn.close()
            matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(rows, DIM)
            assert matrix.shape == (rows, DIM)

        npy = folder / "matrix.npy"
        np.save(npy, data)
        open_engram()  # the first read warms the page cache for all three
        engram_s = min(timed_s(open_engram) for _ in range(2))
        raw_s = min(timed_s(raw_sqlite) for _ in range(2))
        npy_s = min(timed_s(lambda: np.load(npy)) for _ in range(2))
        print(
            f"load             : VectorEngram {engram_s:.2f} s, raw sqlite3+numpy "
            f"{raw_s:.2f} s, np.load {npy_s:.3f} s"
        )
        section = f"VectorEngram load, {rows:,} x {DIM} from disk (warm page cache)"
        table += [
            Row(
                "vector: open from disk (vs raw sqlite3 + frombuffer)",
                engram_s,
                "s",
                raw_s,
                False,
                section=section,
            ),
            Row(
                "vector: open from disk (vs numpy.load of .npy)",
                engram_s,
                "s",
                npy_s,
                False,
                section=section,
            ),
        ]
    return table


if __name__ == "__main__":
    import asyncio

    opts, args = parse_options(__doc__.split("\n\n")[0], extra=options)
    print(
        f"machine : {cpu_name()}; {machine()}; numpy {np.__version__}; "
        f"SQLite {sqlite3.sqlite_version}"
    )
    rows = asyncio.run(main(opts, args))
    print_table("Durable Engrams (raw baselines: sqlite3 and numpy)", rows)
    if opts.json_path:
        write_rows(opts.json_path, rows)
