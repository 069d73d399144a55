"""What a task process finds in its environment, and secrets by reference.

A task never inherits the worker's whole environment: that holds TSS's own secrets
(``TSS_ADMIN_TOKEN``, ``TSS_DATABASE_URL`` with its password) and whatever else the
operator exported. It starts from :data:`BASE_NAMES` (and ``LC_*``), plus names the job
lists in ``inherit_env``, plus the job's ``env``. No ``TSS_*`` variable of the worker ever
passes.

A job's ``env`` value is a literal (a string or number) or a reference, resolved by the
worker when the attempt starts, so the secret is stored nowhere in TSS:

- ``{from_env: NAME}``: the worker's variable ``NAME`` (never a ``TSS_*`` one);
- ``{from_file: /abs/path}``: the file's text, trailing newlines stripped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tss._secrets import REFERENCE_KEYS
from tss.errors import TaskFailure, ValidationError

#: variables passed from the worker to every task process (with every ``LC_*``)
BASE_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR"}
)
#: a ``python`` child is the worker's own interpreter: it also gets what configures it
_INTERPRETER = re.compile(r"PYTHON[A-Z0-9_]*|VIRTUAL_ENV")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: the largest ``from_file`` secret, in bytes
MAX_SECRET_FILE = 64 << 10
#: what from_file may not read: the kernel's views of processes (``/proc/<pid>/environ``
#: of the worker holds its secrets) and devices
_FORBIDDEN_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def is_tss_name(name: str) -> bool:
    """TSS's own variables (``TSS_*``, any case) never reach a task."""
    return name.upper().startswith("TSS_")


def base_environ(
    extra: list[str] | tuple[str, ...] = (),
    *,
    interpreter: bool = False,
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The worker's variables a task may see: :data:`BASE_NAMES`, ``LC_*``, ``extra``, and
    with ``interpreter`` the ``PYTHON*`` ones; never ``TSS_*``."""
    environ = os.environ if source is None else source
    wanted = set(extra)
    return {
        k: v
        for k, v in environ.items()
        if not is_tss_name(k)
        and (
            k in BASE_NAMES
            or k.startswith("LC_")
            or k in wanted
            or (interpreter and _INTERPRETER.fullmatch(k) is not None)
        )
    }


def check_inherit_env(value: Any) -> bool | list[str]:
    """``inherit_env``: ``true`` (the base set), ``false`` (nothing of the worker's), or a
    list of extra names to pass besides the base set.

    :raises ValidationError: naming ``params.inherit_env``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(n, str) and _NAME.fullmatch(n) for n in value):
        for name in value:
            if is_tss_name(name):
                raise ValidationError(
                    f"inherit_env may not pass {name}: TSS's own variables never reach tasks",
                    field="params.inherit_env",
                )
        return list(value)
    raise ValidationError(
        "inherit_env must be true, false, or a list of variable names, e.g. [AWS_REGION]",
        field="params.inherit_env",
    )


def check_env(env: Any) -> dict[str, Any]:
    """Check ``params.env`` at the door: names to literals or references.

    :raises ValidationError: naming the variable, e.g. ``params.env.DB_PASSWORD``.
    """
    if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
        raise ValidationError("env must be a mapping of names to values", field="params.env")
    for name, value in env.items():
        field = f"params.env.{name}"
        if not name or "=" in name or "\0" in name:
            raise ValidationError(f"{name!r} is not a variable name", field=field)
        if isinstance(value, dict):
            check_reference(value, field)
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(
                "an env value is a string, a number, {from_env: NAME} or {from_file: /path}",
                field=field,
            )
        elif "\0" in str(value):
            raise ValidationError("an env value may not contain a NUL byte", field=field)
    return env


def check_reference(value: dict[Any, Any], field: str) -> None:
    """Check a secret reference's shape at the door.

    :raises ValidationError: naming ``field`` (or ``field.from_env``/``field.from_file``).
    """
    if len(value) != 1 or next(iter(value)) not in REFERENCE_KEYS:
        raise ValidationError(
            "a reference is {from_env: NAME} or {from_file: /path}, with nothing else",
            field=field,
        )
    kind, target = next(iter(value.items()))
    if kind == "from_env":
        if not isinstance(target, str) or not _NAME.fullmatch(target):
            raise ValidationError("from_env takes a variable name", field=f"{field}.from_env")
        if is_tss_name(target):
            raise ValidationError(
                f"from_env may not read {target}: TSS's own variables never reach tasks",
                field=f"{field}.from_env",
            )
        return
    if not isinstance(target, str) or not target.startswith("/") or "\0" in target:
        raise ValidationError("from_file takes an absolute path", field=f"{field}.from_file")
    if _forbidden(Path(target)):
        raise ValidationError(
            f"from_file may not read under /proc, /sys or /dev ({target})",
            field=f"{field}.from_file",
        )


def _forbidden(path: Path) -> bool:
    return any(path == root or root in path.parents for root in _FORBIDDEN_ROOTS)


def resolve_env(env: Mapping[str, Any]) -> dict[str, str]:
    """The job's ``env`` with references read, on the worker, when the attempt starts.

    :raises TaskFailure: ``EnvReferenceError`` naming the variable and what is missing
        (never a value).
    """
    return {
        name: resolve_value(value, f"params.env.{name}", "EnvReferenceError")
        for name, value in env.items()
    }


def resolve_value(value: Any, field: str, error_type: str) -> str:
    """A literal (as text) or a reference read now, on the worker.

    :raises TaskFailure: ``error_type``, naming ``field`` and what is missing (never a
        value).
    """
    if not isinstance(value, Mapping):
        return str(value)
    if "from_env" in value:
        var = str(value["from_env"])
        if is_tss_name(var):  # checked at the door; stored definitions predate it
            raise TaskFailure(error_type, f"{field}: from_env may not read {var}")
        found = os.environ.get(var)
        if found is None:
            raise TaskFailure(error_type, f"{field}: the worker has no variable {var}")
        return found
    try:
        return _read_secret(str(value.get("from_file")))
    except ValueError as exc:
        raise TaskFailure(error_type, f"{field}: {exc}") from None


def _read_secret(target: str) -> str:
    """:raises ValueError: why ``target`` cannot be read, in words."""
    path = Path(target)
    try:
        real = path.resolve(strict=True)
        if not path.is_absolute() or _forbidden(real):
            raise ValueError(f"from_file may not read {target}")
        with real.open("rb") as handle:
            raw = handle.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {target}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SECRET_FILE:
        raise ValueError(f"{target} is larger than {MAX_SECRET_FILE >> 10} KiB")
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"{target} is not UTF-8 text") from None
    if "\0" in text:
        raise ValueError(f"{target} contains a NUL byte")
    return text
