"""Scale: VectorEngram recall at 10,000, 100,000 and 1,000,000 x 384 next to the
memory-bandwidth bound of the same matrix, and numpy's own matrix-vector product on it.

    python benchmarks/bench_scale_vector.py [--quick] [--sizes 10000,100000,1000000]

For each size N (10,000 and 100,000 with ``--quick``), in one process on the same random
float32 data (384 dimensions):

* **recall**: ``VectorEngram.recall({"embedding": q, "top_k": 10})`` with the query as a
  list of Python floats (as it arrives off the bus): the median over the queries. Inside,
  one matrix-vector product over the N x 384 float32 unit rows, a partial sort for the
  top 10 and the hits built.
* **numpy matvec**: ``matrix @ q`` alone over an N x 384 float32 matrix of unit rows
  (a copy of the Engram's data, same shape and dtype), the median over the queries.
* **memory-bandwidth bound**: the least time a pass reading the same N x 384 x 4 bytes
  took here: the fastest of a streaming read of the same matrix (``numpy.max`` over it,
  a SIMD pass that does almost nothing per byte, in one thread and split over every
  core) and the matvec itself (OpenBLAS's threaded kernel can read faster than one
  numpy thread). It is what the matrix-vector product takes at the best streaming rate
  seen on this machine in this run, so the matvec's ratio is at most 1. At 10,000 x 384
  (15 MB) the matrix may sit in the CPU's caches, so the bound is then a cache one.

The same recall and matvec are also timed with OpenBLAS held to one thread
(``threadpoolctl``, installed by the bench session; without it those rows say so): on a
2-core machine where other work holds a core, OpenBLAS's threaded kernel can wait a
scheduler tick for its second thread, and a 0.2 ms product then takes about 10 ms.

Per size, one of each (recall, matvec, both again on one BLAS thread, and the one-thread
read) is timed per query, in rotating order, so a burst of load elsewhere weighs on all
of them alike; the figures are medians. The read over every core is timed just before,
on its own.

The rows' ratios read "how close to the bound" (bound / figure): 1.0 means the pass ran
at the streaming rate. The Engram is filled through ``imprint(op="add")`` with numpy
rows and ``initial_capacity=N`` (45,000 to 120,000 entries/s here: 10 to 25 s at 1M); the
queries are the same for every size. numpy's BLAS runs as configured in the environment
(on this machine ``OPENBLAS_CORETYPE`` is set, as for the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _table import Options, Row, machine, parse_options, print_table, write_rows
from cosmonapse_engram_vector import VectorEngram

SECTION = "scale: VectorEngram recall by size (384 dimensions, in process)"
CURVE = "recall top-10 by entries (384 dimensions), next to the memory-bandwidth bound"
DIM = 384
BLOCK = 100_000  # rows generated at a time
THREADS = max(1, os.cpu_count() or 1)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def blas_threads(threads: int | None) -> contextlib.AbstractContextManager[object]:
    """OpenBLAS limited to ``threads`` inside the block (None: as configured). Raises
    ImportError when threadpoolctl is not installed and a limit is asked for."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def one_blas_thread_available() -> bool:
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def threaded_read_ms(flat: np.ndarray, repeat: int) -> float:
    """Median ms of ``numpy.max`` over ``flat`` split across every core. Measured apart
    from the rest, and the threads ended afterwards: Python threads running numpy next
    to OpenBLAS's own threads slowed the next small matrix-vector products tenfold."""
    parts = np.array_split(flat, THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(np.max, parts))
        return statistics.median(
            _timed(lambda: list(pool.map(np.max, parts))) for _ in range(repeat)
        )


def one_size(n: int, queries: list[list[float]], seed: int) -> dict[str, float]:
    """Median ms of recall, matvec and the streaming reads at ``n`` entries, taken in
    alternation (one of each per query, the order rotating), and the fill seconds."""
    rng = np.random.default_rng(seed)
    engram = VectorEngram(engram_id="scale", dim=DIM, initial_capacity=n)
    unit = np.empty((n, DIM), dtype=np.float32)
    spent = 0.0
    for start in range(0, n, BLOCK):
        block = rng.standard_normal((min(BLOCK, n - start), DIM), dtype=np.float32)
        began = time.perf_counter()
        for i, row in enumerate(block):
            engram.imprint(op="add", entry={"embedding": row, "doc_id": f"doc-{start + i}"})
        spent += time.perf_counter() - began
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        unit[start : start + len(block)] = block
    assert len(engram) == n
    vectors = [np.asarray(q, dtype=np.float32) for q in queries]
    # The two agree on the best hit (a check that both computed the same thing).
    best = engram.recall({"embedding": queries[0], "top_k": 1})[0].entry["doc_id"]
    if best != f"doc-{int(np.argmax(unit @ vectors[0]))}":
        raise RuntimeError(f"the Engram's best hit {best} is not numpy's")
    flat = unit.reshape(-1)
    threaded = threaded_read_ms(flat, max(3, len(queries) // 2)) if THREADS > 1 else None

    def recall(i: int) -> object:
        return engram.recall({"embedding": queries[i], "top_k": 10})

    def matvec(i: int) -> object:
        return unit @ vectors[i]

    # name: (call, BLAS threads while it runs; None as configured)
    contenders: dict[str, tuple[Callable[[int], object], int | None]] = {
        "recall": (recall, None),
        "matvec": (matvec, None),
        "numpy.max, 1 thread": (lambda i: flat.max(), None),
    }
    if one_blas_thread_available():
        contenders["recall, 1 BLAS thread"] = (recall, 1)
        contenders["matvec, 1 BLAS thread"] = (matvec, 1)
    names = list(contenders)
    for name in names:  # warm-up
        call, threads = contenders[name]
        with blas_threads(threads):
            call(0)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(len(queries)):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            call, threads = contenders[name]
            with blas_threads(threads):
                times[name].append(_timed(lambda call=call, i=i: call(i)))
    out = {name: statistics.median(got) for name, got in times.items()}
    if threaded is not None:
        out[f"numpy.max, {THREADS} threads"] = threaded
    out["fill_s"] = spent
    return out


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", help="comma-separated entry counts (default 10k,100k,1M)")
    parser.add_argument("--queries", type=int, help="timed queries per size (default 30)")
    parser.add_argument("--seed", type=int, default=11)


async def main(opts: Options | None = None, args: argparse.Namespace | None = None) -> list[Row]:
    opts = opts or Options()
    if args is None:
        _, args = parse_options("", [], options)
    default = "10000,100000" if opts.quick else "10000,100000,1000000"
    sizes = [int(n) for n in (args.sizes or default).split(",")]
    q_rng = np.random.default_rng(args.seed + 1)
    count = args.queries or opts.count(30, 8)
    queries = q_rng.standard_normal((count, DIM), dtype=np.float32).tolist()
    rows: list[Row] = []
    for n in sizes:
        got = one_size(n, queries, args.seed)
        gc.collect()
        reads = {k: v for k, v in got.items() if k.startswith(("numpy.max", "matvec"))}
        how = min(reads, key=reads.__getitem__)
        bound_ms = reads[how]
        rate = n * DIM * 4 / (bound_ms / 1e3)
        print(
            f"{n:>9,} x {DIM}: recall {got['recall']:8.2f} ms, matvec "
            f"{got['matvec']:8.2f} ms, streaming read {bound_ms:8.2f} ms "
            f"({rate / 1e9:.1f} GB/s, {how}); filled at {n / got['fill_s']:,.0f}/s",
            flush=True,
        )
        rows += _rows(n, got, bound_ms)
    return rows


def _rows(n: int, got: dict[str, float], bound_ms: float) -> list[Row]:
    """The rows of one size: recall and matvec with BLAS as configured, then with one
    BLAS thread (or rows saying why not)."""
    point: dict[str, Any] = {
        "section": SECTION,
        "curve": CURVE,
        "x": n,
        "x_label": "entries",
        "baseline_series": "memory-bandwidth bound (fastest pass over the matrix)",
    }
    note = "" if "recall, 1 BLAS thread" in got else "not measured: threadpoolctl is missing"
    out = []
    for key, label, series in (
        ("recall", "recall top-10", "VectorEngram.recall top-10"),
        ("matvec", "numpy matvec", "numpy matrix @ query"),
        ("recall, 1 BLAS thread", "recall top-10, 1 BLAS thread", "recall, 1 BLAS thread"),
        ("matvec, 1 BLAS thread", "numpy matvec, 1 BLAS thread", "matvec, 1 BLAS thread"),
    ):
        out.append(
            Row(
                f"vector scale: {label}, {n:,} x {DIM} (vs memory-bandwidth bound)",
                got.get(key),
                "ms",
                bound_ms,
                higher_is_better=False,
                series=series,
                note="" if key in got else note,
                **point,
            )
        )
    return out


if __name__ == "__main__":
    opts, args = parse_options(__doc__.splitlines()[0], extra=options)
    print(f"machine: {machine()}; numpy {np.__version__}", flush=True)
    table = asyncio.run(main(opts, args))
    print_table("VectorEngram recall by size", table)
    if opts.json_path:
        write_rows(opts.json_path, table)
