"""Secrets in a job's params: what an env reference is, and what a caller may read.

Only an admin sees ``env`` and ``headers`` values.

Every other role gets each literal value of ``params.env`` (shell and python jobs) and
``params.headers`` (http jobs: any header may carry a credential) as :data:`MASK`, and
``params.url`` with its password and secret query values masked (:func:`tss._urls.mask_url`).
A secret reference (``{"from_env": "VAR"}`` or ``{"from_file": "/path"}``) names where the
value comes from, not the value, so it is shown as written. Other params (a python job's
``kwargs``, a shell job's ``argv``) are not secret in TSS's model and pass unchanged.

The output models (:mod:`tss.api.schemas`) call :func:`mask_params` in their ``of``
constructors, which take the caller's :func:`reveals_secrets` as a required argument, so
no route can build a job or run answer without deciding it; ``tss config show`` and the
shell task's checks use the same reference shape. Only the standard library here: the
client imports the schemas.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tss._urls import mask_url

#: what a masked value reads as
MASK = "***"
#: the keys of a secret reference: one of them, naming a variable or a file
REFERENCE_KEYS = frozenset({"from_env", "from_file"})


def reveals_secrets(role: str) -> bool:
    """Whether a caller with ``role`` reads env values in clear (only an admin)."""
    return role == "admin"


def is_reference(value: Any) -> bool:
    """``{"from_env": "VAR"}`` or ``{"from_file": "/path"}``: where a value comes from."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in REFERENCE_KEYS
        and isinstance(next(iter(value.values())), str)
    )


def mask_env(env: Any) -> Any:
    """``env`` with every literal value masked; a value that is not a mapping (refused by
    the shell task, but stored params are not re-validated) is masked whole."""
    if not isinstance(env, dict):
        return MASK
    return {name: value if is_reference(value) else MASK for name, value in env.items()}


def mask_params(params: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
    """``params`` as a caller who may (``reveal``) or may not read secret values sees them:
    ``env`` and ``headers`` literals masked, ``url`` credentials masked."""
    if reveal or not params.keys() & {"env", "headers", "url"}:
        return params
    out = dict(params)
    for key in ("env", "headers"):
        if key in out:
            out[key] = mask_env(out[key])
    if isinstance(out.get("url"), str):
        out["url"] = mask_url(out["url"])
    return out


def scrub(text: str, secrets: Iterable[str], *, shortest: int = 1) -> str:
    """``text`` with every one of ``secrets`` (those of ``shortest`` characters or more)
    replaced by :data:`MASK`: what an error or an answer echoes back of a URL, a header
    or a key."""
    for secret in secrets:
        if len(secret) >= shortest:
            text = text.replace(secret, MASK)
    return text
