"""The lock files agree with pyproject.toml: the installs of the README commands are the
ones pyproject.toml's ranges describe, and a change of either without the other fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"dev.lock": ("dev",), "serve.lock": ("all",)}
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")
ENV = {**default_environment(), "python_version": "3.11", "sys_platform": "linux"}


def pins(lock: Path) -> dict[str, Version]:
    found: dict[str, Version] = {}
    lines = lock.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        name, version, marker = match.groups()
        assert i + 1 < len(lines) and "--hash=sha256:" in lines[i + 1], f"{name} has no hash"
        if marker and not Requirement(f"x; {marker}").marker.evaluate(ENV):  # type: ignore[union-attr]
            continue
        found[canonicalize_name(name)] = Version(version)
    return found


def requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """What an install with these extras needs, self-references expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    optional = project["project"]["optional-dependencies"]
    own = canonicalize_name(project["project"]["name"])
    wanted, todo = list(project["project"]["dependencies"]), list(extras)
    seen: set[str] = set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in optional[extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == own:
                todo += sorted(req.extras)
            else:
                wanted.append(text)
    wanted += project["build-system"]["requires"]
    for name in ("build.in", "dev.in") if "dev" in extras else ("build.in",):
        for line in (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                wanted.append(line.strip())
    return [Requirement(t) for t in wanted]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_requirement_is_pinned_within_its_range(lock: str) -> None:
    pinned = pins(ROOT / "requirements" / lock)
    for req in requirements(LOCKS[lock]):
        if req.marker and not req.marker.evaluate(ENV):
            continue
        name = canonicalize_name(req.name)
        assert name in pinned, f"{lock}: {req} is in pyproject.toml but not locked"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{lock}: {name}=={pinned[name]} is outside pyproject.toml's {req}"
        )


def test_serve_installs_the_versions_the_tests_ran_on() -> None:
    dev, serve = (pins(ROOT / "requirements" / name) for name in ("dev.lock", "serve.lock"))
    differ = {n: (v, dev.get(n)) for n, v in serve.items() if dev.get(n) != v}
    assert not differ, f"serve.lock and dev.lock disagree: {differ}"


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    locks = [str(root / "requirements" / name) for name in sorted(LOCKS)]
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "lockstamp.py"), "--check", *locks],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_locks_were_made_from_todays_pyproject() -> None:
    result = run_check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_range_changed_without_a_relock_is_caught(tmp_path: Path) -> None:
    for part in ("pyproject.toml", "requirements", "scripts"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, tmp_path / part)
        else:
            shutil.copy(src, tmp_path / part)
    assert run_check(tmp_path).returncode == 0
    project = tmp_path / "pyproject.toml"
    project.write_text(
        project.read_text(encoding="utf-8").replace('"orjson>=3.9"', '"orjson>=3.10"'),
        encoding="utf-8",
    )
    result = run_check(tmp_path)
    assert result.returncode == 1
    assert "scripts/lock --keep" in result.stderr
