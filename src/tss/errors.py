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

A failure that several modules report (a job that does not exist, a stale version) is made
by one named constructor, such as ``NotFound.job(name)`` or ``Conflict.stale_version(...)``,
so every store says it in the same words, with the same ``field``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Self


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

    @classmethod
    def worker_state(cls, value: str, states: Iterable[str]) -> Self:
        """``value`` is not one of the worker ``states``."""
        return cls(f"{value!r} is not a worker state: use one of {sorted(states)}", field="state")


class BadRequest(ValidationError):
    """A request that is not well-formed (malformed or too deeply nested JSON)."""

    code = "bad_request"


class PayloadTooLarge(ValidationError):
    """A request body larger than the server accepts."""

    code = "payload_too_large"


class NotFound(TSSError):
    """The named job, run or worker does not exist."""

    code = "not_found"

    @classmethod
    def job(cls, name: str) -> Self:
        """No job is named ``name``."""
        return cls(f"no job named {name!r}", field="name")

    @classmethod
    def run(cls, run_id: str) -> Self:
        """No run has the id ``run_id``."""
        return cls(f"no run with id {run_id!r}", field="run_id")

    @classmethod
    def attempt(cls, run_id: str, number: int | None) -> Self:
        """The run exists but has no attempt ``number`` (None: no attempt at all)."""
        which = "any attempt" if number is None else f"an attempt {number}"
        return cls(f"run {run_id!r} has no {which}", field="attempt")

    @classmethod
    def worker(cls, worker_id: str) -> Self:
        """No worker is registered under ``worker_id``."""
        return cls(f"no worker with id {worker_id!r}", field="worker_id")

    @classmethod
    def alert(cls, alert_id: str) -> Self:
        """No alert has the id ``alert_id``."""
        return cls(f"no alert with id {alert_id!r}", field="alert_id")

    @classmethod
    def token(cls, token_id: str) -> Self:
        """No token has the id ``token_id``."""
        return cls(f"no token with id {token_id!r}", field="token_id")

    @classmethod
    def token_named(cls, id_or_name: str) -> Self:
        """No token has ``id_or_name`` as its id or name."""
        return cls(f"no token has the id or name {id_or_name!r}", field="id_or_name")

    @classmethod
    def session(cls) -> Self:
        """No dashboard session has that id (never made, ended, or expired)."""
        return cls("no such dashboard session", field="session")


class Conflict(TSSError):
    """The request conflicts with what is stored (duplicate, stale, illegal transition)."""

    code = "conflict"

    @classmethod
    def job_exists(cls, name: str) -> Self:
        """A job named ``name`` exists already."""
        return cls(f"a job named {name!r} exists already", field="name")

    @classmethod
    def run_exists(cls, run_id: str) -> Self:
        """A run with the id ``run_id`` exists already."""
        return cls(f"a run with id {run_id!r} exists already", field="id")

    @classmethod
    def token_exists(cls, token_id: str) -> Self:
        """A token with the id ``token_id`` exists already."""
        return cls(f"a token with id {token_id!r} exists already", field="id")

    @classmethod
    def session_exists(cls) -> Self:
        """A dashboard session with that id exists already."""
        return cls("a session with that id exists already", field="id")

    @classmethod
    def stale_version(cls, name: str, stored: int | str, expected: int | None) -> Self:
        """An update of job ``name`` expected version ``expected``; ``stored`` is stored."""
        return cls(
            f"job {name!r} is at version {stored}, not {expected}:"
            " it was changed meanwhile; read it again and retry",
            field="version",
        )

    @classmethod
    def kept_changing(cls, name: str) -> Self:
        """Job ``name`` changed under every try of an optimistic update."""
        return cls(
            f"job {name!r} kept changing while it was updated: read it again and retry",
            field="version",
        )


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
    raise it; ``error_type`` is what ``retry_on`` matches and what the run's error shows.

    ``final``: trying again cannot help (an HTTP 404), so the job's retries are not spent
    on it unless its ``retry_on`` names ``error_type``. ``retry_after``: the least seconds
    to wait before the next attempt (an HTTP ``Retry-After``), capped by the job's
    ``retries.max_delay``."""

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        exit_code: int | None = None,
        final: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.exit_code = exit_code
        self.final = final
        self.retry_after = retry_after


class Unauthorized(TSSError):
    """No valid API token was presented (missing, unknown, revoked or expired)."""

    code = "unauthorized"


class Forbidden(Unauthorized):
    """The token is valid but its role does not allow the operation."""

    code = "forbidden"


class Unavailable(TSSError):
    """The API server could not be reached, or its store or broker is not ready."""

    code = "unavailable"


#: steps pydantic adds to an error's location that are not fields
_VALIDATOR_STEPS = frozenset(
    {"function-after", "function-before", "function-wrap", "float", "int", "str", "bool", "none"}
)


def field_path(loc: Iterable[Any]) -> str:
    """A pydantic error location as the field name TSS shows: ``jobs[1].schedule.cron``
    (list positions in brackets; pydantic's validator steps left out)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _VALIDATOR_STEPS or "[" in str(part):
            # a validator or the member of a union that was tried (``cores.float``,
            # ``function-after[check(), str]``): the field is the part before it
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


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


def log_failure(logger: logging.Logger, exc: BaseException, where: str, then: str = "") -> None:
    """Log that ``where`` failed and will go on (``then``: "; retrying in 1s"). A TSS error
    (an outage, a refusal) is one line with its reason; anything else is a bug, logged with
    its traceback; either way the loop that caught it keeps the process up."""
    if isinstance(exc, TSSError):
        logger.warning("%s: %s%s", where, exc, then)
    else:
        logger.error("%s: unexpected error%s", where, then, exc_info=exc)
