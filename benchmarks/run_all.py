"""Run every benchmark script and print one table of all their figures (``nox -s bench``).

    python benchmarks/run_all.py [--quick] [--only dev,nats] [--markdown] [--json PATH]
                                 [--plots DIR]

Each script runs in its own process, one after the other (so one script's threads,
sockets and memory never weigh on the next), prints its own table as it goes, and hands
its rows back as JSON; the combined table comes last, grouped by section. ``--quick``
is forwarded to every script (a short, rough run for the smoke test); so are
``--seconds`` and ``--sequential``. ``--markdown`` also prints the combined table in
Markdown, ready for docs/benchmarks.md. ``--plots DIR`` draws every curve of the run
(the scale scripts' and the fan-out's) as a PNG into DIR, with matplotlib (installed
by the bench session only). The exit status is non-zero when a script failed;
the table then holds the rows of the others.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _plots import write_plots  # noqa: E402
from _table import Row, machine, print_markdown, print_table, write_rows  # noqa: E402

# The order of the combined table; any other bench_*.py runs after these.
SCRIPTS = [
    "core",
    "peers",
    "dev",
    "nats",
    "jetstream",
    "fanout",
    "payload",
    "groups",
    "vector",
    "engram_store",
    "scale_inflight",
    "scale_workers",
    "scale_vector",
]
SCRIPT_TIMEOUT_S = 600.0


def scripts(only: str | None) -> list[Path]:
    found = {p.stem.removeprefix("bench_"): p for p in HERE.glob("bench_*.py")}
    names = [n for n in SCRIPTS if n in found] + sorted(set(found) - set(SCRIPTS))
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = set(wanted) - set(found)
        if unknown:
            raise SystemExit(f"unknown script(s) {sorted(unknown)}; known: {names}")
        names = [n for n in names if n in wanted]
    return [found[n] for n in names]


def run(script: Path, forwarded: list[str]) -> list[Row] | None:
    """Run one script; its rows, or None when it failed (its output says why)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        try:
            code = subprocess.call(
                [sys.executable, str(script), *forwarded, "--json", str(out)],
                timeout=SCRIPT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            print(f"{script.name} took over {SCRIPT_TIMEOUT_S:g} s; skipped", file=sys.stderr)
            return None
        if code != 0 or not out.exists():
            print(f"{script.name} failed (exit status {code})", file=sys.stderr)
            return None
        return [Row.from_json(raw) for raw in json.loads(out.read_text(encoding="utf-8"))]


def cpus() -> str:
    return f"{os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short, rough run")
    parser.add_argument("--only", help="comma-separated script names (core, dev, ...)")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown")
    parser.add_argument("--json", dest="json_path", help="write every row to this file")
    parser.add_argument("--plots", metavar="DIR", help="draw every curve as a PNG into DIR")
    args, rest = parser.parse_known_args(argv)
    forwarded = [*(["--quick"] if args.quick else []), *rest]
    started = time.perf_counter()
    rows: list[Row] = []
    failed = []
    for script in scripts(args.only):
        print(f"\n=== {script.name} ===", flush=True)
        got = run(script, forwarded)
        if got is None:
            failed.append(script.name)
        else:
            rows.extend(got)
    took = time.perf_counter() - started
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n=== all figures ({'quick run, rough' if args.quick else 'full run'}) ===")
    print(f"machine: {machine()}")
    print(f"run: {when}, {took:.0f} s")
    print_table("ratio = figure / raw baseline (for latencies: baseline / figure)", rows)
    if args.markdown:
        print()
        print_markdown(rows)
    if args.json_path:
        write_rows(args.json_path, rows)
    if args.plots:
        kind = "quick run, rough" if args.quick else "full run"
        for path in write_plots(rows, args.plots, title_note=f"{when}, {kind}, {cpus()}"):
            print(f"plot: {path}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
