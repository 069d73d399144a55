"""Task types: plugins that know how to execute a kind of job."""

from tss.tasks.base import ExecutionContext, TaskContext, TaskFailure, TaskType
from tss.tasks.registry import TaskRegistry

__all__ = ["ExecutionContext", "TaskContext", "TaskFailure", "TaskRegistry", "TaskType"]
