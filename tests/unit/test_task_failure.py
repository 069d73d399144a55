"""What task code raises sits in the one error tree, and keeps its public import paths."""

from __future__ import annotations

import tss
from tss.errors import TaskError, TaskFailure, TSSError, error_for_code
from tss.tasks import TaskFailure as FromTasks
from tss.tasks.base import TaskFailure as FromBase


def test_a_task_failure_is_a_tss_error() -> None:
    failure = TaskFailure("ShellCommandFailed", "exit code 3", exit_code=3)
    assert isinstance(failure, TaskError) and isinstance(failure, TSSError)
    assert (str(failure), failure.error_type, failure.exit_code) == (
        "exit code 3",
        "ShellCommandFailed",
        3,
    )
    assert FromTasks is TaskFailure and FromBase is TaskFailure
    assert error_for_code(failure.code) is TaskError


def test_no_exported_error_that_is_never_raised() -> None:
    assert "StaleAttempt" not in tss.__all__
    assert error_for_code("stale_attempt") is TSSError
