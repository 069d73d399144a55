"""Logging in to the dashboard: a token in, a server-side session out, its random id in an
HttpOnly SameSite=Strict cookie.

The cookie never holds the token. The store keeps the session id's SHA-256, the token it
was opened with and its expiry (``dashboard.session_ttl``, checked by the server on every
request, see :mod:`tss.api.auth`); logging out deletes it, and revoking the token ends it
at once. Any number of API processes serve the same session through the store. Logging
in is refused from another origin, and only as JSON (a cross-site form cannot send JSON
without a CORS preflight), so no other site can log a browser in under its own token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from tss.api.auth import CSRF_HEADER, SESSION_COOKIE, check_csrf, csrf_token
from tss.config import Settings
from tss.errors import Forbidden, Unauthorized
from tss.service import TSSApp
from tss.tokens import ANONYMOUS, Principal

router = APIRouter(include_in_schema=False)


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=1000)


class SessionOut(BaseModel):
    """Who the dashboard is logged in as, and the CSRF token its actions must send."""

    logged_in: bool = True
    name: str = ""
    role: str = ""
    auth: bool = Field(description="false when the API runs with auth off")
    csrf: str = ""
    csrf_header: str = CSRF_HEADER


def _app(request: Request) -> tuple[TSSApp, Settings]:
    state = request.app.state.api
    return state.tss, state.settings


def _same_origin(request: Request) -> None:
    """:raises Forbidden: the browser says the request comes from another origin."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("the dashboard only accepts logins from its own pages", field="Origin")
    if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        raise Forbidden("the dashboard only accepts logins from its own pages", field="Origin")


def _out(principal: Principal, settings: Settings, session: str) -> SessionOut:
    return SessionOut(
        name=principal.name,
        role=principal.role,
        auth=settings.api.auth,
        csrf=csrf_token(session) if session else "",
    )


@router.post("/dashboard/login", response_model=SessionOut)
async def login(request: Request, response: Response, body: LoginIn) -> SessionOut:
    """Check a token and start a session with it (401 if the token is not valid)."""
    _same_origin(request)
    tss, settings = _app(request)
    principal = await tss.admin.authenticate(body.token.strip())
    if principal is None:
        raise Unauthorized(
            "that token is not valid (unknown, revoked or expired); make one with "
            "`tss token create --name me --role viewer`",
            field="token",
        )
    if principal.role == "worker":
        raise Forbidden(
            "a worker token only takes and reports runs; log in with a viewer, operator or "
            "admin token",
            field="token",
        )
    ttl = settings.dashboard.session_ttl
    # A session already in this browser ends: a login never adopts or extends one.
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await tss.admin.close_session(old)
    session_id = await tss.admin.open_session(principal, ttl=ttl)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return _out(principal, settings, session_id)


@router.post("/dashboard/logout", status_code=204)
async def logout(request: Request) -> Response:
    """End the session: deleted on the server, so the cookie stops working everywhere
    (the token itself stays valid)."""
    tss, _ = _app(request)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        check_csrf(request, session)
        await tss.admin.close_session(session)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/dashboard/session", response_model=SessionOut)
async def session(request: Request) -> SessionOut:
    """The current session; ``logged_in`` is false when there is none, it has ended or
    expired, or its token stopped being valid (answered with 200: a logged-out page is not
    an error)."""
    tss, settings = _app(request)
    if not settings.api.auth:
        return _out(ANONYMOUS, settings, "")
    session_id = request.cookies.get(SESSION_COOKIE)
    principal = await tss.admin.session_principal(session_id) if session_id else None
    if principal is None or session_id is None:
        return SessionOut(logged_in=False, auth=True)
    return _out(principal, settings, session_id)
