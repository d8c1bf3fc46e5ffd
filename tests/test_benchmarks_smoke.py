"""The benchmarks still run: ``benchmarks/run_all.py --quick`` produces every row.

Only presence and sanity are checked (each figure, and each raw baseline it has, is a
positive finite number). No figure is compared with anything: the machines that run the
suite are shared and noisy, and the benchmarks' numbers are for reading, not asserting.
The peers (AutoGen core, FastStream) and threadpoolctl are installed by the bench session
only, and the published cosmonapse's venv is never built by a quick run, so here their
rows may carry no number and a note saying what is missing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANG_GUARD_S = 240.0  # the quick run takes about a minute; this only stops a hang

IN_FLIGHT = (1, 16, 64)
SIZES = ("100 B", "1 KiB", "10 KiB", "100 KiB", "1 MiB")
SLOPES = ("10 KiB to 100 KiB", "100 KiB to 1 MiB")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


EXPECTED = [
    "codec: encode a TASK (vs orjson)",
    "codec: decode + validate a TASK (vs orjson)",
    *(f"memory: dispatch_and_wait p{p} (vs queue ping-pong)" for p in (50, 99)),
    *(f"memory: round trips/s, {n} in flight (vs queue ping-pong)" for n in IN_FLIGHT),
    "memory: CPU per round trip, 64 in flight (vs queue ping-pong)",
    *(
        name
        for versus in ("raw echo", "raw relay")
        for name in (
            *(f"dev: dispatch_and_wait p{p} (vs {versus})" for p in (50, 99)),
            *(f"dev: round trips/s, {n} in flight (vs {versus})" for n in IN_FLIGHT),
        )
    ),
    *(f"dev: synapse only, round trips/s, {n} in flight (vs raw relay)" for n in IN_FLIGHT),
    "dev: CPU per round trip, 64 in flight (vs raw echo)",
    "dev: CPU per round trip, 64 in flight (vs raw relay)",
    "dev: synapse only, CPU per round trip, 64 in flight (vs raw relay)",
    *(f"nats: dispatch_and_wait p{p} (vs request)" for p in (50, 99)),
    *(f"nats: round trips/s, {n} in flight (vs request)" for n in IN_FLIGHT),
    *(f"nats: synapse only, round trips/s, {n} in flight (vs request)" for n in IN_FLIGHT),
    "nats: CPU per round trip, 64 in flight (vs request)",
    "nats: synapse only, CPU per round trip, 64 in flight (vs request)",
    *(
        f"nats, separate worker: round trips/s, {n} in flight (vs request, separate responder)"
        for n in IN_FLIGHT
    ),
    "nats, separate worker: CPU per round trip, 64 in flight (vs request, separate responder)",
    *(
        f"{transport}: deliveries/s, {_plural(n, 'subscriber')} (vs {versus})"
        for transport, versus in (("memory", "queues"), ("dev", "raw relay"), ("nats", "nats-py"))
        for n in (1, 10, 100, 1000)
    ),
    *(
        name
        for transport, versus in (("memory", "orjson ping-pong"), ("dev", "raw relay"))
        for name in (
            *(f"{transport}: payload {s}, round trip p50 (vs {versus})" for s in SIZES),
            *(f"{transport}: payload µs per KiB, {s} (vs {versus})" for s in SLOPES),
        )
    ),
    *(
        f"{transport}: round trips/s, {_plural(n, 'worker')} (vs {versus})"
        for transport, versus in (
            ("memory", "shared queue"),
            ("dev", "raw relay"),
            ("nats", "nats-py queue group"),
        )
        for n in (1, 4, 16)
    ),
    "vector: recall top-10 (vs Python scan)",
    "vector: recall top-10 with a 10% filter",
    "vector: imprint(op='add') rate",
    *(
        name
        for n in (1, 10, 100, 1000)
        for name in (
            *(
                f"scale: {what}, {n:,} in flight (vs raw asyncio)"
                for what in ("memory per in-flight trace", "round trip p99", "round trips/s")
            ),
            f"scale: mean in flight (Little's law), {n:,} callers (vs raw asyncio)",
        )
    ),
    *(
        f"scale: nats:// {what}, {n} process{'es' if n > 1 else ''}, {how} "
        "(vs raw nats-py processes)"
        for n in (1, 2, 4)
        for how in ("one namespace", "a namespace each")
        for what in ("aggregate round trips/s", "CPU per round trip")
    ),
    *(
        f"vector scale: {what}, {n:,} x 384 (vs memory-bandwidth bound)"
        for n in (10_000, 100_000)
        for what in ("recall top-10", "numpy matvec")
    ),
]
# Rows whose figure needs a package only the bench session installs: here they carry a
# note instead of a number.
OPTIONAL = [
    *(
        f"peers: {name}, {n} in flight{versus}"
        for n in (1, 64)
        for name, versus in (
            ("cosmonapse memory:// dispatch_and_wait", " (vs queue ping-pong)"),
            ("AutoGen core send_message", " (vs queue ping-pong)"),
            ("cosmonapse memory:// over AutoGen core", ""),
            ("cosmonapse nats:// dispatch_and_wait", " (vs nats-py request)"),
            ("FastStream request", " (vs nats-py request)"),
            ("cosmonapse nats:// over FastStream", ""),
        )
    ),
    *(
        name
        for n in (1, 64)
        for name in (
            "peers: published cosmonapse 0.1.14 memory:// dispatch_and_wait, "
            f"{n} in flight (vs queue ping-pong in its process)",
            f"peers: cosmonapse memory:// over published 0.1.14, {n} in flight "
            "(one process after the other)",
        )
    ),
    *(
        f"vector scale: {what}, 1 BLAS thread, {n:,} x 384 (vs memory-bandwidth bound)"
        for n in (10_000, 100_000)
        for what in ("recall top-10", "numpy matvec")
    ),
]


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_quick_run_produces_every_row(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(out.read_text(encoding="utf-8"))}
    missing = [name for name in EXPECTED + OPTIONAL if name not in rows]
    assert not missing, f"rows missing from the benchmark table: {missing}"
    for name in EXPECTED + OPTIONAL:
        row = rows[name]
        if name in OPTIONAL and row["value"] is None:
            assert row["note"].startswith("not measured"), row
        else:
            assert _positive(row["value"]), row
        assert row["baseline"] is None or _positive(row["baseline"]), row
        assert row["section"], row
    # The combined table is printed once, after every script's own.
    assert result.stdout.count("=== all figures") == 1
    assert "dev: round trips/s, 64 in flight (vs raw echo)" in result.stdout


def test_hotpath_names_the_dendrite_functions_a_round_trip_runs() -> None:
    """``benchmarks/hotpath.py`` samples a live dev-synapse worker with py-spy and lists
    where its time goes: the functions a worker runs per TASK must be among them."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "hotpath.py"),
            "--transport",
            "dev",
            "--process",
            "worker",
            "--seconds",
            "1",
            "--top",
            "400",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dev: the worker process, 64 in flight"), lines[:3]
    busy = int(lines[1].split()[0].replace(",", ""))
    assert busy > 0
    listed = "\n".join(lines[3:])
    for function in ("Signal.decode", "Axon.handle_task", "DevSynapse._on_line"):
        assert function in listed, listed
    # a worker never sends TASKs: the caller's side must not show up in it
    assert "dispatch_and_wait" not in listed


def test_instructions_counts_both_round_trips() -> None:
    """``benchmarks/instructions.py`` counts, under valgrind, the instructions of one
    in-process round trip and of one raw-queue round trip: both positive, the Dendrite's
    the larger (it does everything the queue does and more)."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "instructions.py"),
            "--in-flight",
            "8",
            "--small",
            "64",
            "--large",
            "256",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = {
        line.rsplit(None, 1)[0].strip(): float(line.rsplit(None, 1)[1].replace(",", ""))
        for line in result.stdout.splitlines()[1:]
    }
    ours = figures["memory: dispatch_and_wait"]
    raw = figures["raw asyncio queue"]
    assert ours > raw > 0, figures
    assert figures["ratio (raw / ours)"] == round(raw / ours, 3)
