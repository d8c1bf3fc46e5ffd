"""The wheel carries the page: every static file, so an installed Prism works offline."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def test_wheel_includes_every_static_file(tmp_path):
    if importlib.util.find_spec("hatchling") is not None:
        command = [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)]
    else:  # pip fetches the build backend into an isolated environment
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), "."]
    subprocess.run(command, cwd=PACKAGE, check=True, capture_output=True, timeout=300)
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
