"""Who may call what: bearer tokens, roles per route, and the loopback rule.

Each route declares its role with :func:`needs`; the role also goes into the OpenAPI
document as ``x-tss-role``, which is where the auth matrix test reads it from.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tss.config import Settings
from tss.core.models import ROLES, Role
from tss.errors import ConfigError, Unauthorized
from tss.tokens import ANONYMOUS, Principal

_bearer = HTTPBearer(auto_error=False, description="an API token: `tss token create`")
#: record a token's use at most this often (a write per request would not do)
TOUCH_EVERY = 60.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _guard(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def guard(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        state = request.app.state.api
        if not state.settings.api.auth:
            principal = ANONYMOUS
        else:
            if credentials is None or not credentials.credentials:
                raise Unauthorized(
                    "this needs an API token: send the header 'Authorization: Bearer <token>'",
                    field="Authorization",
                )
            found = await state.tss.authenticate(credentials.credentials)
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
        await state.tss.store.touch_token(principal.token_id)


GUARDS = {role: _guard(role) for role in ROLES}


def needs(role: Role) -> dict[str, Any]:
    """Route keyword arguments that require ``role`` and document it."""
    return {"dependencies": [Depends(GUARDS[role])], "openapi_extra": {"x-tss-role": role}}


def principal_of(request: Request) -> Principal:
    """The caller, as the route's guard found it."""
    principal: Principal = request.state.principal
    return principal
