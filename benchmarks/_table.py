"""Shared helpers for the benchmark scripts: timing, percentiles and the printed table."""

from __future__ import annotations

import platform
import time
from collections.abc import Awaitable, Callable

__all__ = ["Row", "machine", "percentile", "print_table", "rate", "timed_loop"]


class Row:
    """One line of the table: a figure, its raw baseline from the same run, and the ratio."""

    def __init__(self, name: str, value: float, unit: str, baseline: float | None = None,
                 higher_is_better: bool = True) -> None:
        self.name, self.value, self.unit = name, value, unit
        self.baseline, self.higher_is_better = baseline, higher_is_better

    @property
    def ratio(self) -> float | None:
        if not self.baseline or not self.value:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value


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


async def rate(op: Callable[[], Awaitable[object]], *, in_flight: int, seconds: float = 1.0) -> float:
    """Completed ``op`` calls per second with ``in_flight`` running concurrently."""
    import asyncio

    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await op()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - started)


def machine() -> str:
    import os

    return (f"{platform.python_implementation()} {platform.python_version()} on "
            f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform(terse=True)}")


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"{'measure':<48} {'value':>14} {'raw baseline':>14} {'ratio':>7}")
    for row in rows:
        base = f"{row.baseline:,.2f}" if row.baseline else "-"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        print(f"{row.name:<48} {row.value:>10,.2f} {row.unit:<3} {base:>14} {ratio:>7}")
