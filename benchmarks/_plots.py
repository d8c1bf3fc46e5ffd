"""PNG plots of the curves in a run's rows (``run_all.py --plots DIR``).

A row that is a point of a curve names it (``Row.curve``) with its abscissa (``Row.x``,
``Row.x_label``) and its series' legends (``Row.series`` for the value,
``Row.baseline_series`` for the baseline). Each curve becomes one PNG, named after the
curve, with one line per series and one dashed line per baseline series (a baseline
shared by several rows of the same x is drawn once). Both axes are logarithmic when
the abscissas span more than a factor of 50, the ordinate when its values span more than
a factor of 30. matplotlib is needed (the bench session of
``noxfile.py`` installs it); without it, :func:`write_plots` says so and draws nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from _table import Row

__all__ = ["curve_file", "write_plots"]


def curve_file(curve: str) -> str:
    """The PNG file name of ``curve``: its words, lower case, joined by dashes."""
    words = re.findall(r"[a-z0-9]+", curve.lower())
    return "-".join(words)[:80] + ".png"


def _spans(values: list[float], factor: float) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > factor


def write_plots(rows: list[Row], directory: str | Path, *, title_note: str = "") -> list[Path]:
    """Draw every curve of ``rows`` into ``directory``; returns the files written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        print(f"plots: not drawn, matplotlib is not installed here ({exc})")
        return []
    curves: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.curve and row.x is not None and row.value is not None:
            curves[row.curve].append(row)
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for curve, points in curves.items():
        lines: dict[str, dict[float, float]] = defaultdict(dict)
        dashed: dict[str, dict[float, float]] = defaultdict(dict)
        paired: dict[str, set[str]] = defaultdict(set)  # baseline -> the series next to it
        for row in points:
            assert row.x is not None and row.value is not None
            series = row.series or row.name
            lines[series][row.x] = row.value
            if row.baseline:
                baseline = row.baseline_series or "raw baseline"
                dashed[baseline][row.x] = row.baseline
                paired[baseline].add(series)
        fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=110)
        palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        color = {label: palette[i % len(palette)] for i, label in enumerate(lines)}
        markers = "osD^v<>"
        for i, (label, series) in enumerate(lines.items()):
            xs = sorted(series)
            ax.plot(
                xs, [series[x] for x in xs], marker=markers[i % 7], color=color[label], label=label
            )
        for label, series in dashed.items():
            # a baseline next to one series takes its colour; a shared one is grey
            only = next(iter(paired[label])) if len(paired[label]) == 1 else None
            xs = sorted(series)
            ax.plot(
                xs,
                [series[x] for x in xs],
                linestyle="--",
                marker="x",
                color=color[only] if only else "grey",
                alpha=0.8,
                label=label,
            )
        xs_all = [row.x for row in points if row.x is not None]
        ys_all = [v for s in (*lines.values(), *dashed.values()) for v in s.values()]
        if _spans(xs_all, 50):
            ax.set_xscale("log")
        if _spans(ys_all, 30):
            ax.set_yscale("log")
        else:
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}"))
        ax.set_xticks(sorted(set(xs_all)))
        ax.set_xticklabels([f"{x:,.0f}" for x in sorted(set(xs_all))])
        if ax.get_xscale() == "log":
            ax.minorticks_off()
        ax.set_xlabel(points[0].x_label or "x")
        ax.set_ylabel(points[0].unit)
        ax.set_title(curve + (f"\n{title_note}" if title_note else ""), fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / curve_file(curve)
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
