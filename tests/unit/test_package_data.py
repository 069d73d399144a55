"""Every file the package needs at run time ships in the wheel: each non-Python file under
src/tss matches a ``[tool.setuptools.package-data]`` pattern of pyproject.toml (a moved Lua
script or migration template would otherwise work from a checkout and be missing once
installed)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tss"


def test_every_data_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["tss"]
    data = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    ]
    assert data, "no data files found: is the package where this test looks?"
    # fnmatch's * crosses "/", so compare directory by directory as setuptools does
    missed = [
        name
        for name in data
        if not any(fnmatch(name, p) and name.count("/") == p.count("/") for p in patterns)
    ]
    assert not missed, f"not in pyproject.toml's package-data, so not installed: {missed}"
