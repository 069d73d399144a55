"""Errors in one shape, ``{"error": {"code", "message", "field"}}``, and the guards at the
door: the body size limit and a JSON parser that refuses absurd nesting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tss.api.auth import sees_internals
from tss.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    TSSError,
    Unauthorized,
    ValidationError,
    field_path,
)

log = logging.getLogger(__name__)

#: deeper JSON than this is refused at the door (the store's encoder stops at 254 levels)
MAX_DEPTH = 64

_STATUS: list[tuple[type[TSSError], int]] = [
    (PayloadTooLarge, 413),
    (BadRequest, 400),
    (ValidationError, 422),
    (Forbidden, 403),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
]
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


#: what a caller who may not read the store's or broker's own errors (hosts, users, database
#: names: see tss.api.auth.sees_internals) reads instead
_INTERNAL = {
    "store_error": "the store failed or cannot be reached (the server's log says why)",
    "broker_error": "the broker failed or cannot be reached (the server's log says why)",
}


def status_of(exc: TSSError) -> int:
    """The HTTP status for a TSS error: the store or broker failing is 503."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 503 if exc.code in {"store_error", "broker_error", "unavailable"} else 400


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    body = {"error": {"code": code, "message": message, "field": field}}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _field(loc: tuple[Any, ...]) -> str:
    """The field a request error names: its location without the request part it came in
    (``body``, ``query``...), or ``body`` for the whole body."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return field_path(parts) or "body"


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (the input may be hostile)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
        if deepest > MAX_DEPTH:
            break
    return deepest


def parse_json(body: bytes) -> Any:
    """A request body as JSON.

    :raises BadRequest: not JSON, or nested deeper than :data:`MAX_DEPTH`.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}", field="body") from exc
    if _depth(data) > MAX_DEPTH:
        raise BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels", field="body")
    return data


class _CarriedError(StarletteHTTPException):
    """A TSS error raised while FastAPI reads a body: FastAPI turns any other exception
    there into a bare 400, but lets HTTP exceptions through, so this one carries it out."""

    def __init__(self, error: TSSError) -> None:
        super().__init__(status_of(error), error.message)
        self.error = error


class _JSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = parse_json(await self.body())
            except TSSError as exc:
                raise _CarriedError(exc) from exc
        return self._json


class TSSRoute(APIRoute):
    """Routes that parse JSON with orjson and the depth limit, and refuse query parameters
    they do not know (a misspelt filter would otherwise be ignored in silence)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = _query_names(self.dependant)

        async def handle(request: Request) -> Response:
            for key in request.query_params:
                if key not in known:
                    listed = ", ".join(sorted(known)) or "none"
                    raise ValidationError(
                        f"{key}: unknown query parameter (this route takes: {listed})", field=key
                    )
            return await handler(_JSONRequest(request.scope, request.receive))

        return handle


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _allowed_methods(request: Request) -> str:
    """Every method the path takes (FastAPI makes one route per method, so the 405 of one
    route would list only its own)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _CarriedError(PayloadTooLarge(self._message(), field="body"))
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.limit} bytes (api.max_body)"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, PayloadTooLarge.code, self._message(), "body")
        await response(scope, receive, send)


def install_handlers(app: FastAPI) -> None:
    """Every error leaves in the one shape; nothing a client sends yields a 500."""

    async def on_tss(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TSSError)
        message = exc.message
        if exc.code in _INTERNAL and not sees_internals(request):
            message = _INTERNAL[exc.code]
        return error_response(status_of(exc), exc.code, message, exc.field)

    async def on_validation(_: Request, exc: Exception) -> Response:
        # FastAPI's check of the request, or a body part a route validates itself (a
        # shape chosen by what the body holds): either way the caller's input, named.
        assert isinstance(exc, RequestValidationError | PydanticValidationError)
        err = exc.errors()[0]
        if err.get("type") == "json_invalid":
            return error_response(400, BadRequest.code, "the request body is not valid JSON")
        field = _field(tuple(err.get("loc", ())))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key"
        elif err.get("type") == "missing":
            msg = "is required"
        return error_response(422, ValidationError.code, f"{field}: {msg}", field)

    async def on_http(request: Request, exc: Exception) -> Response:
        if isinstance(exc, _CarriedError):
            return await on_tss(request, exc.error)
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return error_response(500, "internal", "an unexpected error happened; see the server log")

    app.add_exception_handler(TSSError, on_tss)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(PydanticValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
