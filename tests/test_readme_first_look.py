"""The top-level README's "A first look" runs as written and prints what its comment says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_first_look_prints_its_promised_line() -> None:
    section = README.read_text().split("## A first look", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "no python block under 'A first look'"
    source = code.group(1)
    promised = re.search(r"print\(.*\)\s+# (.+)$", source, re.M)
    assert promised is not None, "the print line has no '# output' comment"
    assert "reply.output" in source  # the first look shows the typed output
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", source],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [promised.group(1)]
