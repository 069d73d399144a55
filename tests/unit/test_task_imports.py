"""Task types are plugins of the worker, not parts of it: ``tss.tasks`` never imports
``tss.worker`` (a task type, the child process of ``isolation: process``, a plugin's tests
load without the worker)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tss.tasks

TASKS = Path(tss.tasks.__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_task_module_names_the_worker() -> None:
    for path in sorted(TASKS.glob("*.py")):
        worker = {n for n in _imported(path) if n == "tss.worker" or n.startswith("tss.worker.")}
        assert not worker, f"{path.name} imports {sorted(worker)}"


def test_loading_every_task_type_loads_no_worker_module() -> None:
    code = (
        "import sys, tss.tasks.python, tss.tasks.shell, tss.tasks.noop, tss.tasks.python_child;"
        "print(sorted(m for m in sys.modules if m.startswith('tss.worker')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
