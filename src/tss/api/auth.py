"""Who may call what: bearer tokens, dashboard sessions, roles per route, and the loopback
rule.

Each route declares its role with :func:`needs`; the role also goes into the OpenAPI
document as ``x-tss-role``, which is where the auth matrix test reads it from.

A request without an ``Authorization`` header may carry the dashboard's session cookie
instead (a browser's ``EventSource`` cannot send headers). The cookie holds a random
session id, not a token: the store keeps its hash, the token it was opened with and its
expiry (:func:`tss.tokens.session_principal`), so logging out, the session's TTL and the
token's revocation or expiry all end it at once, whichever API process serves it. A cookie
is sent by the browser on its own, so every request but GET, HEAD and OPTIONS that relies
on it must also carry :data:`CSRF_HEADER` with :func:`csrf_token` of the session, which
only a page of this origin can read.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tss._secrets import reveals_secrets
from tss.config import Settings
from tss.core.models import ROLES, Role
from tss.errors import ConfigError, Forbidden, Unauthorized
from tss.tokens import ANONYMOUS, Principal, is_admin_token

_bearer = HTTPBearer(auto_error=False, description="an API token: `tss token create`")
#: record a token's use at most this often (a write per request would not do)
TOUCH_EVERY = 60.0
#: the dashboard's session cookie (HttpOnly, SameSite=Strict)
SESSION_COOKIE = "tss_session"
#: the header that proves a cookie-borne request comes from a page of this origin
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sees_internals(request: Request) -> bool:
    """Whether a caller may read the store's and broker's errors in full (they name hosts,
    ports, users and databases): it came from this host and not through a proxy, it is an
    admin, or it presents ``api.admin_token`` (tokens kept in the store cannot be checked
    while the store is down)."""
    client = request.client.host if request.client else ""
    if is_loopback(client) and "x-forwarded-for" not in request.headers:
        return True
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.role == "admin":
        return True
    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    admin = request.app.state.api.settings.api.admin_token
    return scheme.lower() == "bearer" and is_admin_token(raw.strip(), admin)


def check_exposure(settings: Settings) -> None:
    """Refuse to serve without auth anywhere but loopback.

    :raises ConfigError: ``api.auth`` is false and ``server.host`` is not a loopback address.
    """
    host = settings.server.host
    if not settings.api.auth and not is_loopback(host):
        raise ConfigError(
            f"api.auth: false is only allowed while the server listens on loopback, and "
            f"server.host is {host!r}: anyone who can reach it could run anything. Turn auth "
            "on (and create a token with `tss token create`) or listen on 127.0.0.1",
            field="api.auth",
        )


def csrf_token(session: str) -> str:
    """The CSRF token of a session: an HMAC keyed by its random id, so it differs per
    session, any process can check it, and no page of another origin can compute it (it
    cannot read the HttpOnly cookie)."""
    return hmac.new(session.encode(), b"tss-dashboard-csrf", hashlib.sha256).hexdigest()


def check_csrf(request: Request, session: str) -> None:
    """:raises Forbidden: an unsafe method without the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token(session).encode()):
        raise Forbidden(
            f"this request uses the dashboard session but lacks its {CSRF_HEADER} header "
            "(reload the dashboard page)",
            field=CSRF_HEADER,
        )


def presented_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> tuple[str, bool]:
    """The bearer token a request presents, or else its dashboard session id, and whether
    it is the latter: the bearer token wins over the cookie.

    :raises Unauthorized: neither is there.
    """
    if credentials is not None and credentials.credentials:
        return credentials.credentials, False
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return session, True
    raise Unauthorized(
        "this needs an API token: send the header 'Authorization: Bearer <token>'",
        field="Authorization",
    )


def _guard(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def guard(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        state = request.app.state.api
        if not state.settings.api.auth:
            principal = ANONYMOUS
        else:
            secret, from_cookie = presented_token(request, credentials)
            if from_cookie:
                found = await state.tss.admin.session_principal(secret)
                if found is None:
                    raise Unauthorized(
                        "the dashboard session has ended (logged out, expired, or its token "
                        "was revoked); log in again",
                        field=SESSION_COOKIE,
                    )
                check_csrf(request, secret)
            else:
                found = await state.tss.admin.authenticate(secret)
                if found is None:
                    raise Unauthorized(
                        "the API token is not valid (unknown, revoked or expired)",
                        field="Authorization",
                    )
            principal = found
            await _touch(state, principal)
        principal.require(role)
        request.state.principal = principal
        return principal

    return guard


async def _touch(state: Any, principal: Principal) -> None:
    if principal.token_id in (None, "env"):
        return
    now = time.monotonic()
    last = state.touched.get(principal.token_id)
    if last is None or now - last >= TOUCH_EVERY:
        state.touched[principal.token_id] = now
        await state.tss.admin.touch_token(principal.token_id)


GUARDS = {role: _guard(role) for role in ROLES}


def needs(role: Role) -> dict[str, Any]:
    """Route keyword arguments that require ``role`` and document it."""
    return {"dependencies": [Depends(GUARDS[role])], "openapi_extra": {"x-tss-role": role}}


def principal_of(request: Request) -> Principal:
    """The caller, as the route's guard found it."""
    principal: Principal = request.state.principal
    return principal


def reveals(request: Request) -> bool:
    """Whether the caller reads job and run env values in clear (see :mod:`tss._secrets`)."""
    return reveals_secrets(principal_of(request).role)
