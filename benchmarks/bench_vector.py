"""VectorEngram benchmark: top-10 recall over 100,000 x 384 entries vs a pure-Python scan.

Run from the repository root with the packages installed::

    python benchmarks/bench_vector.py            # the full run, well under a minute
    python benchmarks/bench_vector.py --rows 20000 --queries 10   # a quicker look
    python benchmarks/bench_vector.py --quick    # 10,000 rows, 10 queries

What it measures, all in one process on the same random data:

* insertion rate through ``imprint(op="add")`` with JSON-like entries (a list of Python
  floats plus two fields), the path a bus IMPRINT takes;
* recall latency of ``VectorEngram.recall({"embedding": [...], "top_k": 10})``, with the
  query as a list of Python floats, and the same with an equality filter;
* the same top-10 computed by a plain-Python cosine scan (rows as lists of floats, norms
  precomputed, ``heapq.nlargest`` for the partial sort). The scan is timed on a subset of
  the rows and scaled linearly to the full size (it is a linear scan), which the output
  says. Its top-10 on the subset is checked against the Engram's filtered recall on the
  same subset, so both sides compute the same answer.
"""

from __future__ import annotations

import argparse
import heapq
import math
import operator
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _table import Options, Row, cpu_name, machine, parse_options, print_table, write_rows
from cosmonapse_engram_vector import VectorEngram

CHUNK = 5_000  # entries converted to Python lists at a time, to bound memory


def fill(engram: VectorEngram, data: np.ndarray, subset: int) -> float:
    """Imprint every row; return the seconds spent inside imprint (list building excluded)."""
    spent = 0.0
    for start in range(0, data.shape[0], CHUNK):
        block = data[start : start + CHUNK]
        entries = [
            {
                "embedding": row,
                "doc_id": f"doc-{start + i}",
                # "sub" marks the rows the pure-Python scan also sees; "tenth" keeps ~10%.
                "sub": start + i < subset,
                "tenth": (start + i) % 10 == 0,
            }
            for i, row in enumerate(block.tolist())
        ]
        began = time.perf_counter()
        for entry in entries:
            engram.imprint(op="add", entry=entry)
        spent += time.perf_counter() - began
    return spent


def python_top_k(
    rows: list[list[float]], norms: list[float], query: list[float], k: int
) -> list[int]:
    """Indices of the ``k`` rows with the highest cosine to ``query``, in pure Python."""
    qnorm = math.sqrt(sum(v * v for v in query))
    scores = [
        sum(map(operator.mul, query, row)) / (norm * qnorm)
        for row, norm in zip(rows, norms, strict=True)
    ]
    return heapq.nlargest(k, range(len(scores)), key=scores.__getitem__)


def timed_ms(fn: object, repeat: int) -> list[float]:
    assert callable(fn)
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1e3)
    return out


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, help="entries (default 100,000; 10,000 quick)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, help="timed queries (default 50; 10 quick)")
    parser.add_argument(
        "--subset", type=int, help="rows the Python scan sees (default 10,000; 2,000 quick)"
    )
    parser.add_argument("--seed", type=int, default=7)


async def main(opts: Options | None = None, args: argparse.Namespace | None = None) -> list[Row]:
    """The rows of the table; raises RuntimeError when the Engram and the plain scan
    disagree on a top-10."""
    opts = opts or Options()
    if args is None:
        _, args = parse_options("", [], options)
    rows = args.rows or opts.count(100_000, 10_000)
    queries_n = args.queries or opts.count(50, 10)
    dim, k = args.dim, 10
    subset = min(args.subset or opts.count(10_000, 2_000), rows)

    print(f"data    : {rows:,} x {dim} random normal float32 entries, top_k={k}")
    rng = np.random.default_rng(args.seed)
    data = rng.standard_normal((rows, dim), dtype=np.float32)
    queries = rng.standard_normal((queries_n, dim), dtype=np.float32).tolist()

    engram = VectorEngram(engram_id="bench", dim=dim)
    seconds = fill(engram, data, subset)
    assert len(engram) == rows
    print(
        f"insert  : {rows / seconds:,.0f} entries/s through imprint(op='add') "
        f"({seconds * 1e6 / rows:.1f} us each, list-of-floats embeddings)"
    )

    # Warm-up, then one timed call per query.
    engram.recall({"embedding": queries[0], "top_k": k})
    fast = [
        timed_ms(lambda q=q: engram.recall({"embedding": q, "top_k": k}), 1)[0] for q in queries
    ]
    filtered = [
        timed_ms(
            lambda q=q: engram.recall({"embedding": q, "top_k": k}, filters={"tenth": True}), 1
        )[0]
        for q in queries
    ]
    engram_ms = statistics.median(fast)
    print(
        f"engram  : {engram_ms:.2f} ms/query median "
        f"(mean {statistics.fmean(fast):.2f}, min {min(fast):.2f}) over {len(fast)} queries"
    )
    print(
        f"filtered: {statistics.median(filtered):.2f} ms/query median with "
        "filters={'tenth': True} (10% of rows match)"
    )

    # The pure-Python side sees the first `subset` rows as lists of floats.
    py_rows = data[:subset].tolist()
    norms = [math.sqrt(sum(v * v for v in row)) for row in py_rows]
    scan_queries = queries[: max(3, min(5, len(queries)))]
    scan_ms: list[float] = []
    for q in scan_queries:
        began = time.perf_counter()
        top = python_top_k(py_rows, norms, q, k)
        scan_ms.append((time.perf_counter() - began) * 1e3)
        want = [f"doc-{i}" for i in top]
        got = [
            h.entry["doc_id"]
            for h in engram.recall({"embedding": q}, filters={"sub": True}, top_k=k)
        ]
        if got != want:
            raise RuntimeError(f"the Engram and the Python scan disagree: {got} != {want}")
    scale = rows / subset
    python_ms = statistics.median(scan_ms) * scale
    note = "" if subset == rows else f" (timed on {subset:,} rows, scaled x{scale:g}: it is linear)"
    print(f"python  : {python_ms:.1f} ms/query median{note}; same top-{k} as the Engram")
    ratio = python_ms / engram_ms
    print(f"speedup : {ratio:.0f}x (target >= 50x) {'OK' if ratio >= 50 else 'BELOW TARGET'}")
    section = f"VectorEngram ({rows:,} x {dim}, in process)"
    return [
        Row(
            f"vector: recall top-{k} (vs Python scan)",
            engram_ms,
            "ms",
            python_ms,
            False,
            section=section,
        ),
        Row(
            "vector: recall top-10 with a 10% filter",
            statistics.median(filtered),
            "ms",
            higher_is_better=False,
            section=section,
        ),
        Row("vector: imprint(op='add') rate", rows / seconds, "/s", section=section),
    ]


if __name__ == "__main__":
    import asyncio

    opts, args = parse_options(__doc__.split("\n\n")[0], extra=options)
    print(f"machine : {cpu_name()}; {machine()}; numpy {np.__version__}")
    table = asyncio.run(main(opts, args))
    print_table("VectorEngram (raw baseline: the pure-Python cosine scan)", table)
    if opts.json_path:
        write_rows(opts.json_path, table)
