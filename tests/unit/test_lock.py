"""The lock agrees with pyproject.toml, and the README commands install the lock.

``uv.lock`` is resolved from pyproject.toml's ranges (``bash scripts/lock``);
``requirements/dev.lock`` and ``requirements/serve.lock`` are its exports, which
``scripts/test`` and ``scripts/serve`` install with pip. A range changed without a re-lock,
or an export edited by hand or left behind, fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
#: each export and the options scripts/lock makes it with
EXPORTS = {
    "dev.lock": ["--group", "build", "--group", "lock", "--extra", "dev"],
    "serve.lock": ["--group", "build", "--extra", "all"],
}


def uv(root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``uv`` in ``root``, offline, with a cache of its own (no state outside the test)."""
    env = {**os.environ, "UV_PYTHON": sys.executable, "UV_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [str(UV), *args, "--offline", "--quiet"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _body(text: str) -> str:
    """An export without its header comment (the command that made it)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


def test_the_lock_was_made_from_todays_pyproject(tmp_path: Path) -> None:
    result = uv(ROOT, tmp_path, "lock", "--check")
    assert result.returncode == 0, f"run `bash scripts/lock --keep`: {result.stderr}"


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_the_installs_are_exports_of_the_lock(tmp_path: Path, export: str) -> None:
    fresh = tmp_path / export
    result = uv(ROOT, tmp_path, "export", "--frozen", "--no-emit-project", "--no-header",
                *EXPORTS[export], "-o", str(fresh))  # fmt: skip
    assert result.returncode == 0, result.stderr
    installed = (ROOT / "requirements" / export).read_text(encoding="utf-8")
    assert _body(installed) == _body(fresh.read_text(encoding="utf-8")), (
        f"requirements/{export} is not what uv.lock gives: run `bash scripts/lock --keep`"
    )


def test_a_range_changed_without_a_relock_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    assert uv(copy, tmp_path, "lock", "--check").returncode == 0
    project = copy / "pyproject.toml"
    text = project.read_text(encoding="utf-8")
    assert '"orjson>=3.9"' in text
    project.write_text(text.replace('"orjson>=3.9"', '"orjson>=3.10"'), encoding="utf-8")
    assert uv(copy, tmp_path, "lock", "--check").returncode != 0
