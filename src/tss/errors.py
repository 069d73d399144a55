"""The TSS exception tree.

Every error TSS raises on purpose derives from :class:`TSSError`::

    TSSError
    ├── ConfigError          invalid or missing configuration
    ├── ValidationError      a definition or input that is not acceptable (names the field)
    │   ├── BadRequest       a request that is not even well-formed (malformed JSON)
    │   └── PayloadTooLarge  a request body over the configured limit
    ├── NotFound             a job, run or worker that does not exist
    ├── Conflict             duplicate name, stale update, illegal state change
    ├── StoreError           the store failed (driver errors are translated into this)
    ├── BrokerError          the broker failed
    ├── TaskError            a task could not run, or ended badly
    │   └── TaskFailure      what task code raises: an error type for retry_on, an exit code
    ├── Unauthorized         no valid API token
    │   └── Forbidden        a valid token without the role the operation needs
    └── Unavailable          the API server could not be reached or is not ready

Each class has a ``code``: the API's error bodies carry it, and :func:`error_for_code` turns it
back into the class on the client's side.

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


class BadRequest(ValidationError):
    """A request that is not well-formed (malformed or too deeply nested JSON)."""

    code = "bad_request"


class PayloadTooLarge(ValidationError):
    """A request body larger than the server accepts."""

    code = "payload_too_large"


class NotFound(TSSError):
    """The named job, run or worker does not exist."""

    code = "not_found"


class Conflict(TSSError):
    """The request conflicts with what is stored (duplicate, stale, illegal transition)."""

    code = "conflict"


class StoreError(TSSError):
    """The store failed to do what was asked."""

    code = "store_error"


class BrokerError(TSSError):
    """The broker failed to do what was asked."""

    code = "broker_error"


class TaskError(TSSError):
    """A task could not run, or ended badly. An attempt's failure is recorded on its run
    (the run's ``error``), not raised to whoever triggered it."""

    code = "task_error"


class TaskFailure(TaskError):
    """A task ended badly in a way that is not a Python exception of its own (a non-zero
    exit code, a child that died, an environment reference that is missing). Task types
    raise it; ``error_type`` is what ``retry_on`` matches and what the run's error shows."""

    def __init__(self, error_type: str, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.exit_code = exit_code


class Unauthorized(TSSError):
    """No valid API token was presented (missing, unknown, revoked or expired)."""

    code = "unauthorized"


class Forbidden(Unauthorized):
    """The token is valid but its role does not allow the operation."""

    code = "forbidden"


class Unavailable(TSSError):
    """The API server could not be reached, or its store or broker is not ready."""

    code = "unavailable"


def _subclasses(cls: type[TSSError]) -> list[type[TSSError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


def error_for_code(code: str) -> type[TSSError]:
    """The error class with this ``code`` (:class:`TSSError` for a code TSS does not know)."""
    for cls in _subclasses(TSSError):
        if cls.code == code:
            return cls
    return TSSError
