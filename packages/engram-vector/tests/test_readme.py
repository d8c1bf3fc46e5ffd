"""The README's short example runs as written and prints what the README says."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_prints_what_it_promises() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## A short example", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    promised = section.split("```text", 1)[1].split("```", 1)[0].strip()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    assert out.getvalue().strip() == promised
