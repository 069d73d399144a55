"""The example plugin's ``checksum`` task type (examples/plugins/tss-example-plugin), run the
way a worker runs it: validated params, then ``execute`` with an execution context."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tss.errors import TaskFailure, ValidationError
from tss.tasks import ExecutionContext, TaskContext
from tss.tasks.output import LogBuffer

SRC = Path(__file__).resolve().parents[2] / "examples/plugins/tss-example-plugin/src"


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    return importlib.import_module("tss_example_plugin.checksum")


def run(task: Any, params: dict[str, Any], timeout: float | None = None) -> tuple[Any, str]:
    """Validate ``params`` and execute one attempt; return the result and stdout."""
    checked = task.validate(params)
    out = LogBuffer()
    ctx = ExecutionContext(
        task=TaskContext("run-1", 1, "job", None, checked),
        params=checked,
        timeout=timeout,
        isolation="inline",
        stdout=out,
        stderr=LogBuffer(),
    )
    return asyncio.run(task.execute(ctx)), out.getvalue()


def test_a_file_and_a_text_are_hashed(plugin: ModuleType, tmp_path: Path) -> None:
    data = b"x" * (plugin.CHUNK + 10)  # more than one chunk
    (tmp_path / "big.bin").write_bytes(data)
    task = plugin.ChecksumTask({"root": str(tmp_path)})
    result, out = run(task, {"path": "big.bin"})
    digest = hashlib.sha256(data).hexdigest()
    assert result == {"algorithm": "sha256", "digest": digest, "size": len(data)}
    assert out == f"sha256 {digest}  big.bin\n"
    result, _ = run(plugin.ChecksumTask(), {"text": "abc", "algorithm": "md5"})
    assert result["digest"] == hashlib.md5(b"abc").hexdigest()


def test_an_unexpected_digest_or_a_missing_file_fails_the_run(
    plugin: ModuleType, tmp_path: Path
) -> None:
    task = plugin.ChecksumTask({"root": str(tmp_path), "algorithm": "sha1"})
    with pytest.raises(TaskFailure) as caught:
        run(task, {"text": "abc", "expect": "A" * 40})
    assert caught.value.error_type == "ChecksumMismatch"
    assert f"is {hashlib.sha1(b'abc').hexdigest()}, not {'a' * 40}" in str(caught.value)
    with pytest.raises(TaskFailure) as caught:
        run(task, {"path": "gone.txt"})
    assert caught.value.error_type == "FileUnreadable"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "params.path"),
        ({"path": "a", "text": "b"}, "params.path"),
        ({"text": 3}, "params.text"),
        ({"text": "a", "size": 1}, "params.size"),
        ({"text": "a", "algorithm": "shake_128"}, "params.algorithm"),
        ({"text": "a", "expect": "abc"}, "params.expect"),
        ({"path": "../outside"}, "params.path"),
    ],
)
def test_params_are_checked_at_the_door(
    plugin: ModuleType, tmp_path: Path, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        plugin.ChecksumTask({"root": str(tmp_path)}).validate(params)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"colour": 1}, "colour"),
        ({"root": "/no/such/folder"}, "root"),
        ({"algorithm": "x"}, "algorithm"),
    ],
)
def test_its_config_is_checked_when_it_is_constructed(
    plugin: ModuleType, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        plugin.ChecksumTask(config)
    assert caught.value.field == field
