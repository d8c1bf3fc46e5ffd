"""The README's in-process example runs as written (without the browser and the wait)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_watch_example_runs(tmp_path):
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert 'prism.watch(synapse, "demo", open_browser=True)' in code
    assert "await asyncio.sleep(30)" in code
    code = code.replace(
        'prism.watch(synapse, "demo", open_browser=True)', 'prism.watch(synapse, "demo", port=0)'
    ).replace("await asyncio.sleep(30)", "await asyncio.sleep(0)")
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"Prism: http://127\.0\.0\.1:\d+/", lines[0])
    assert lines[1:] == ["{'text': 'HELLO'}", "{'text': 'PRISM'}"]
