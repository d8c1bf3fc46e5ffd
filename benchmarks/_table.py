"""Shared helpers for the benchmark scripts: options, timing, percentiles and the table.

Every script builds a list of :class:`Row` (a figure next to its raw baseline from the
same run) and hands its ``main`` to :func:`run_script`, which parses the common options,
prints the script's table and, with ``--json PATH``, writes the rows for ``run_all.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "IN_FLIGHT",
    "Figures",
    "Options",
    "Row",
    "compare",
    "cpu_name",
    "cpu_row",
    "cpu_seconds",
    "latency_rows",
    "machine",
    "parse_options",
    "percentile",
    "print_markdown",
    "print_table",
    "rate",
    "rate_rows",
    "run_script",
    "timed_loop",
    "write_rows",
]

IN_FLIGHT = (1, 16, 64)


class Row:
    """One line of the table: a figure, its raw baseline from the same run, and the ratio.

    ``ratio`` is always "how close to the raw baseline", so 1.0 means as fast as raw and
    0.5 means half as fast (or twice the latency), whichever way the unit reads.

    ``value`` is None when the figure could not be measured (a peer that is not
    installed, say); ``note`` then says why, and the table prints it instead of a number.
    A row that is one point of a curve names the curve (``curve``, also the plot's title)
    and its abscissa (``x``, labelled ``x_label``): ``run_all.py --plots DIR`` draws
    every curve from these points, one line per ``series`` (the value's legend) and one
    per ``baseline_series`` (the baseline's).
    """

    def __init__(
        self,
        name: str,
        value: float | None,
        unit: str,
        baseline: float | None = None,
        higher_is_better: bool = True,
        *,
        section: str = "",
        note: str = "",
        curve: str = "",
        x: float | None = None,
        x_label: str = "",
        series: str = "",
        baseline_series: str = "",
    ) -> None:
        self.name, self.value, self.unit = name, value, unit
        self.baseline, self.higher_is_better = baseline, higher_is_better
        self.section = section
        self.note = note
        self.curve, self.x, self.x_label = curve, x, x_label
        self.series, self.baseline_series = series, baseline_series

    @property
    def ratio(self) -> float | None:
        if not self.baseline or not self.value:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "higher_is_better": self.higher_is_better,
            "note": self.note,
            "curve": self.curve,
            "x": self.x,
            "x_label": self.x_label,
            "series": self.series,
            "baseline_series": self.baseline_series,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Row:
        return cls(
            raw["name"],
            raw["value"],
            raw["unit"],
            raw["baseline"],
            raw["higher_is_better"],
            section=raw["section"],
            note=raw.get("note", ""),
            curve=raw.get("curve", ""),
            x=raw.get("x"),
            x_label=raw.get("x_label", ""),
            series=raw.get("series", ""),
            baseline_series=raw.get("baseline_series", ""),
        )


@dataclass(frozen=True)
class Options:
    """The options every script takes.

    ``quick`` shortens every figure (a smoke run: the numbers are rough); ``seconds`` is
    the time spent on each throughput figure and ``sequential`` the round trips behind
    each p50/p99.
    """

    quick: bool = False
    seconds: float = 2.0
    sequential: int = 2000
    json_path: str | None = None

    def count(self, full: int, quick: int) -> int:
        """``full`` normally, ``quick`` with ``--quick``."""
        return quick if self.quick else full

    @property
    def warm_up(self) -> int:
        """Calls made before anything is timed."""
        return self.count(200, 30)

    @property
    def rounds(self) -> int:
        """Rounds :func:`compare` splits each figure into."""
        return self.count(8, 2)


def parse_options(
    description: str,
    argv: list[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[Options, argparse.Namespace]:
    """Parse the common options (and a script's ``extra`` ones); unknown ones are ignored,
    since ``run_all.py`` forwards its own arguments to every script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short, rough run")
    parser.add_argument("--seconds", type=float, help="per throughput figure (default 2.0)")
    parser.add_argument("--sequential", type=int, help="round trips per p50/p99 (default 2000)")
    parser.add_argument("--json", dest="json_path", help="also write the rows to this file")
    if extra is not None:
        extra(parser)
    args, _ = parser.parse_known_args(argv)
    seconds = args.seconds or (0.15 if args.quick else 2.0)
    sequential = args.sequential or (150 if args.quick else 2000)
    return Options(args.quick, seconds, sequential, args.json_path), args


def run_script(
    title: str,
    main: Callable[[Options], Coroutine[Any, Any, list[Row]]],
    description: str,
    argv: list[str] | None = None,
) -> int:
    """Run one script's ``main`` standalone: print its table, write ``--json``."""
    opts, _ = parse_options(description, argv)
    print(f"machine: {machine()}", flush=True)
    rows = asyncio.run(main(opts))
    print_table(title, rows)
    if opts.json_path:
        write_rows(opts.json_path, rows)
    return 0


def write_rows(path: str, rows: Iterable[Row]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump([row.to_json() for row in rows], out)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def timed_loop(fn: Callable[[], object], *, seconds: float = 0.5) -> float:
    """Mean seconds per call of ``fn`` over about ``seconds`` (after a warm-up)."""
    for _ in range(200):
        fn()
    n, started = 0, time.perf_counter()
    while True:
        for _ in range(500):
            fn()
        n += 500
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return elapsed / n


async def _run(
    op: Callable[[], Awaitable[object]], in_flight: int, seconds: float
) -> tuple[int, float]:
    """``(completed calls, elapsed seconds)`` of ``op`` with ``in_flight`` concurrent
    callers for about ``seconds``."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await op()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done, time.perf_counter() - started


async def rate(
    op: Callable[[], Awaitable[object]], *, in_flight: int, seconds: float = 1.0
) -> float:
    """Completed ``op`` calls per second with ``in_flight`` running concurrently."""
    done, elapsed = await _run(op, in_flight, seconds)
    return done / elapsed


@dataclass
class Figures:
    """One contender's figures from :func:`compare`: sequential round-trip times in
    seconds, calls per second by number in flight, and CPU seconds per call by number in
    flight (every process counted, see :func:`cpu_seconds`)."""

    samples: list[float]
    rates: dict[int, float]
    cpu: dict[int, float]


def cpu_seconds(pids: Iterable[int] = ()) -> float:
    """CPU time used so far by this process and by the processes ``pids`` (every
    thread), in seconds. The others' share comes from Linux's ``/proc/<pid>/task/*/
    schedstat`` (nanoseconds); elsewhere, or for a process that is gone, it is left out."""
    total = time.process_time()
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as stat:
                    total += int(stat.read().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                pass
    return total


async def compare(
    ops: dict[str, Callable[[], Awaitable[object]]],
    opts: Options,
    *,
    sequential: bool = True,
    in_flight: Iterable[int] = IN_FLIGHT,
    warm_up: int | None = None,
    cpu_clock: Callable[[], float] = cpu_seconds,
) -> dict[str, Figures]:
    """Measure every op of ``ops`` (a figure and its raw baselines) in alternation.

    Each op is warmed up, then the timing runs in ``opts.rounds`` rounds; within a round
    every op gets its share in turn (the order rotating from round to round), for the
    sequential samples (``opts.sequential`` in all) and for each in-flight rate
    (``opts.seconds`` in all). So a figure and its baseline see the same minute of a
    noisy machine, and a burst of load elsewhere weighs on both alike. ``warm_up``
    overrides ``opts.warm_up``.

    ``cpu_clock`` tells the CPU seconds used so far by every process a contender runs in
    (this one by default; pass the child processes' too). Idle processes add nothing, so
    the CPU spent in a contender's turns is its own; per call, it is the figure least
    moved by other work on the machine.
    """
    names = list(ops)
    for name in names:
        for _ in range(opts.warm_up if warm_up is None else warm_up):
            await ops[name]()
    rounds = opts.rounds
    figures = {name: Figures([], {}, {}) for name in names}
    if sequential:
        per_round = max(1, opts.sequential // rounds)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                op, samples = ops[name], figures[name].samples
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    await op()
                    samples.append(time.perf_counter() - t0)
    for n in in_flight:
        totals = dict.fromkeys(names, (0, 0.0, 0.0))
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                cpu = cpu_clock()
                done, elapsed = await _run(ops[name], n, opts.seconds / rounds)
                cpu = cpu_clock() - cpu
                total = totals[name]
                totals[name] = (total[0] + done, total[1] + elapsed, total[2] + cpu)
        for name, (done, elapsed, cpu) in totals.items():
            figures[name].rates[n] = done / elapsed
            figures[name].cpu[n] = cpu / done
    return figures


def latency_rows(
    label: str, versus: str, samples: list[float], raw: list[float], section: str
) -> list[Row]:
    """p50 and p99 rows of ``samples`` (seconds) next to the ``raw`` ones, in µs."""
    return [
        Row(
            f"{label} p{pct} (vs {versus})",
            percentile(samples, pct) * 1e6,
            "µs",
            percentile(raw, pct) * 1e6,
            higher_is_better=False,
            section=section,
        )
        for pct in (50, 99)
    ]


def cpu_row(
    label: str, versus: str, figure: Figures, raw: Figures, section: str, in_flight: int = 64
) -> Row:
    """CPU µs per call at ``in_flight``, every process counted, next to the raw one."""
    return Row(
        f"{label} (vs {versus})",
        figure.cpu[in_flight] * 1e6,
        "µs",
        raw.cpu[in_flight] * 1e6,
        higher_is_better=False,
        section=section,
    )


def rate_rows(
    label: str, versus: str, rates: dict[int, float], raw: dict[int, float], section: str
) -> list[Row]:
    """One row per in-flight count of ``rates`` next to the ``raw`` ones."""
    return [
        Row(f"{label}, {n} in flight (vs {versus})", rates[n], "/s", raw[n], section=section)
        for n in rates
    ]


def cpu_name() -> str:
    """The CPU model, which ``platform`` does not report on Linux."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()} ({cpu_name()}), {os.cpu_count()} CPUs, "
        f"{platform.platform(terse=True)}"
    )


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def print_table(title: str, rows: list[Row]) -> None:
    """Print ``rows`` under ``title``, one block per section, in the order first seen."""
    width = max([len(r.name) for r in rows] + [7])
    print(f"\n{title}")
    print(f"{'measure':<{width}}  {'value':>10} {'unit':<6} {'raw baseline':>12}  {'ratio':>5}")
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    for section, block in sections.items():
        if section:
            print(f"[{section}]")
        for row in block:
            base = _fmt(row.baseline) if row.baseline else "-"
            ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
            value = "-" if row.value is None else _fmt(row.value)
            note = f"  ({row.note})" if row.note else ""
            print(f"{row.name:<{width}}  {value:>10} {row.unit:<6} {base:>12}  {ratio:>5}{note}")


def print_markdown(rows: list[Row]) -> None:
    """Print ``rows`` as one Markdown table, a bold line per section (for the docs)."""
    print("| measure | value | raw baseline | ratio |")
    print("|---|---:|---:|---:|")
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            print(f"| **{section}** | | | |")
        base = f"{_fmt(row.baseline)} {row.unit}" if row.baseline else ""
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        value = (
            (row.note or "not measured") if row.value is None else f"{_fmt(row.value)} {row.unit}"
        )
        print(f"| {row.name} | {value} | {base} | {ratio} |")
