"""The TSS exception tree.

Every error TSS raises on purpose derives from :class:`TSSError`::

    TSSError
    ├── ConfigError          invalid or missing configuration
    ├── ValidationError      a definition or input that is not acceptable (names the field)
    ├── NotFound             a job, run or worker that does not exist
    ├── Conflict             duplicate name, stale update, illegal state change
    │   └── StaleAttempt     a finish or heartbeat for an attempt that no longer holds the run
    ├── StoreError           the store failed (driver errors are translated into this)
    ├── BrokerError          the broker failed
    └── TaskError            a task type could not run a job (bad target, missing plugin)

Driver errors are translated at the backend boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class TSSError(Exception):
    """Root of every error TSS raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class ConfigError(TSSError):
    """The configuration is invalid; the message names the key and the reason."""

    code = "config_error"


class ValidationError(TSSError):
    """A definition or input was refused; ``field`` names where."""

    code = "validation_error"


class NotFound(TSSError):
    """The named job, run or worker does not exist."""

    code = "not_found"


class Conflict(TSSError):
    """The request conflicts with what is stored (duplicate, stale, illegal transition)."""

    code = "conflict"


class StaleAttempt(Conflict):
    """An attempt that no longer holds its run tried to report or heartbeat (fencing)."""

    code = "stale_attempt"


class StoreError(TSSError):
    """The store failed to do what was asked."""

    code = "store_error"


class BrokerError(TSSError):
    """The broker failed to do what was asked."""

    code = "broker_error"


class TaskError(TSSError):
    """A task type cannot run a job as defined."""

    code = "task_error"
