"""Every Python example of ``docs/library.md`` runs, as a script of its own in an empty
folder (so ``configs/default.yaml`` and ``tasks.db`` are its own), and prints what the page
says it prints where the page says so in a comment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_an_example_of_the_library_page_runs(number: int, tmp_path: Path) -> None:
    source = EXAMPLES[number]
    script = tmp_path / "example.py"
    script.write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSS_")}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"example {number}:\n{source}\n{done.stdout}\n{done.stderr}"
    printed = done.stdout.splitlines()
    # `print(...)  # value` lines say what they print
    expected = [
        m.group(1).strip()
        for line in source.splitlines()
        if line.lstrip().startswith("print(") and (m := re.search(r"#\s*(.+)$", line))
    ]
    for want in expected:
        assert any(want in line for line in printed), f"example {number}: {want!r} not in {printed}"
