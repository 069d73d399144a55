"""The ``http`` task type's params, checked at the door (every refusal names its field),
and the status lists ``expect`` and ``retry_on`` mean."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx

from tss.errors import ValidationError
from tss.tasks._env import check_reference

KEYS = frozenset(
    {
        "url",
        "method",
        "headers",
        "json",
        "body",
        "timeout",
        "expect",
        "retry_on",
        "follow_redirects",
        "max_redirects",
    }
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: what a status list is when the job gives none
DEFAULT_EXPECT: tuple[int | str, ...] = ("2xx",)
DEFAULT_RETRY_ON: tuple[int | str, ...] = (429, "5xx")
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_REDIRECTS = 5
MAX_URL = 8192
MAX_HEADERS = 100
MAX_HEADER_VALUE = 8192
#: headers HTTP itself sets: a job giving them would break the request's framing or route
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")
_CLASS = re.compile(r"[1-5]xx")


def check(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked and normalised (``method`` upper case, status lists as lists of
    ints and ``"Nxx"``); defaults are not written in, so the stored job says what was given.

    :raises ValidationError: naming the field, e.g. ``params.url``.
    """
    unknown = set(params) - KEYS
    if unknown:
        first = sorted(unknown)[0]
        raise ValidationError(f"http takes {sorted(KEYS)}, not {first!r}", field=f"params.{first}")
    out = dict(params)
    _check_url(params.get("url"))
    if "json" in params and "body" in params:
        raise ValidationError(
            "give json (sent as JSON) or body (sent as text), not both", field="params.body"
        )
    if "body" in params and not isinstance(params["body"], str):
        raise ValidationError(
            "body is the request's text; use json for a structure", field="params.body"
        )
    if "method" in params:
        method = params["method"]
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ValidationError(
                f"method is one of {', '.join(sorted(METHODS))}", field="params.method"
            )
        out["method"] = method.upper()
    if "headers" in params:
        check_headers(params["headers"])
    if "timeout" in params:
        timeout = params["timeout"]
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not math.isfinite(timeout)
            or not 0 < timeout <= 86400
        ):
            raise ValidationError(
                "timeout is the seconds one request may take: more than 0, at most 86400",
                field="params.timeout",
            )
    for name in ("expect", "retry_on"):
        if name in params:
            out[name] = statuses(params[name], f"params.{name}")
    if "follow_redirects" in params and not isinstance(params["follow_redirects"], bool):
        raise ValidationError("follow_redirects is true or false", field="params.follow_redirects")
    if "max_redirects" in params:
        count = params["max_redirects"]
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 30:
            raise ValidationError(
                "max_redirects is a whole number from 0 to 30", field="params.max_redirects"
            )
    return out


def _check_url(url: Any) -> None:
    field = "params.url"
    if not isinstance(url, str) or not url:
        raise ValidationError("url is required: the address to call, https://...", field=field)
    if len(url) > MAX_URL:
        raise ValidationError(f"url is longer than {MAX_URL} characters", field=field)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ValidationError(f"url is not a URL: {exc}", field=field) from None
    if parsed.scheme not in ("http", "https"):
        raise ValidationError(
            f"url must start with http:// or https://, not {parsed.scheme or 'nothing'}:",
            field=field,
        )
    if not parsed.host:
        raise ValidationError("url has no host", field=field)
    if parsed.userinfo:
        raise ValidationError(
            "url may not hold a user name or password (user:pass@host): send credentials "
            "in headers, by reference, e.g. Authorization: {from_env: HOOK_TOKEN}",
            field=field,
        )


def check_headers(headers: Any) -> None:
    """Names are HTTP tokens; values are text without line breaks, or secret references.

    :raises ValidationError: naming the header, e.g. ``params.headers.Authorization``.
    """
    if not isinstance(headers, dict) or not all(isinstance(k, str) for k in headers):
        raise ValidationError(
            "headers is a mapping of header names to values", field="params.headers"
        )
    if len(headers) > MAX_HEADERS:
        raise ValidationError(f"at most {MAX_HEADERS} headers", field="params.headers")
    for name, value in headers.items():
        field = f"params.headers.{name}"
        if not _TOKEN.fullmatch(name):
            raise ValidationError(f"{name!r} is not a header name", field=field)
        if name.lower() in _FRAMING:
            raise ValidationError(f"{name} is set by HTTP itself, not by a job", field=field)
        if isinstance(value, dict):
            check_reference(value, field)
        elif not isinstance(value, str):
            raise ValidationError(
                "a header value is text, {from_env: NAME} or {from_file: /path}", field=field
            )
        elif len(value) > MAX_HEADER_VALUE or any(c in value for c in "\r\n\0"):
            raise ValidationError(
                f"a header value is one line of at most {MAX_HEADER_VALUE} characters",
                field=field,
            )


def statuses(value: Any, field: str) -> list[int | str]:
    """A status list: codes (``404``) and classes (``"5xx"``); one alone is a list of one.

    :raises ValidationError: naming ``field``.
    """
    items = value if isinstance(value, list) else [value]
    out: list[int | str] = []
    for item in items:
        if isinstance(item, str) and _CLASS.fullmatch(item.strip().lower()):
            out.append(item.strip().lower())
        elif isinstance(item, str) and item.strip().isdigit():
            out.append(_code(int(item.strip()), field))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(_code(item, field))
        else:
            raise ValidationError(
                f'{item!r} is not a status: give codes (404) or classes ("5xx")', field=field
            )
    return out


def _code(code: int, field: str) -> int:
    if not 100 <= code <= 599:
        raise ValidationError(f"{code} is not an HTTP status (100-599)", field=field)
    return code


def matches(status: int, specs: list[int | str] | tuple[int | str, ...]) -> bool:
    """Whether ``status`` is one of ``specs`` (codes and ``"Nxx"`` classes)."""
    return any(
        spec == status if isinstance(spec, int) else spec[0] == str(status)[0] for spec in specs
    )
