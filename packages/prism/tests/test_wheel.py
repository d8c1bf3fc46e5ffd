"""The wheel carries the page: every static file, so an installed Prism works offline."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def test_wheel_includes_every_static_file(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("cosmonapse_prism-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = PACKAGE / "src" / "cosmonapse_prism" / "static"
    shipped = {
        "cosmonapse_prism/static/" + p.relative_to(static).as_posix()
        for p in static.rglob("*")
        if p.is_file()
    }
    assert "cosmonapse_prism/static/index.html" in shipped
    assert "cosmonapse_prism/static/js/main.js" in shipped
    assert shipped <= names, sorted(shipped - names)
    assert "cosmonapse_prism/py.typed" in names
