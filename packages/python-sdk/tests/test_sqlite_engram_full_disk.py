"""A SqliteEngram on a real, tiny filesystem (an 8 MiB tmpfs): when the disk fills up the
IMPRINT fails with a clear error and everything acknowledged before is still there.

Mounting needs the privilege to mount; without it the test is skipped (the same guarantee
is checked with SQLite's own size cap in test_sqlite_engram.py)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cosmonapse import EngramStoreError, SqliteEngram


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
        capture_output=True,
        timeout=10,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=10)


def test_a_really_full_disk_fails_the_imprint_and_loses_nothing(tiny_disk: Path) -> None:
    path = tiny_disk / "kv.db"
    acknowledged: dict[str, int] = {}
    with SqliteEngram("e", path=path) as kv:
        with pytest.raises(EngramStoreError) as info:
            for i in range(100_000):
                kv.imprint(op="add", entry={"id": f"e{i}", "n": i, "pad": "x" * 500})
                acknowledged[f"e{i}"] = i
        assert str(path) in str(info.value)
        assert "full" in str(info.value) or "disk" in str(info.value)
        assert len(acknowledged) > 100  # it filled a disk, it did not fail at once
        assert {h.id: h.entry["n"] for h in kv.recall({}, top_k=200_000)} == acknowledged
    with SqliteEngram("e", path=path) as kv:
        assert {h.id: h.entry["n"] for h in kv.recall({}, top_k=200_000)} == acknowledged
