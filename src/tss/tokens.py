"""API tokens: made here, shown once, stored as a hash, checked in constant time; and the
dashboard's sessions opened with them.

A token reads ``tss_<id>_<secret>``. The id finds the stored record; the secret is 256
random bits, so a plain SHA-256 of it is enough at rest (no password stretching is needed
for a secret nobody chose), and :func:`hmac.compare_digest` compares the hashes.

A dashboard session id is 256 random bits too, stored only as its SHA-256 with the id of
the token it was opened with and its expiry. A session is valid while it has not expired
(store clock) and its token is still valid, so revoking a token ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tss.core.models import ROLES, Role, Token, allows
from tss.errors import Forbidden, NotFound, ValidationError
from tss.store.base import DashboardSession, Store

PREFIX = "tss_"
#: the configured admin token (``api.admin_token``) has no stored record: its sessions are
#: tied to a hash of it, so changing it ends them
ENV_SESSION_PREFIX = "env:"
#: a presented session id longer than this is not one of ours (not even hashed)
MAX_SESSION_ID = 128


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's name and role (``anonymous`` with auth off)."""

    name: str
    role: Role
    token_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"token:{self.name}" if self.token_id else self.name

    def require(self, role: Role) -> None:
        """:raises Forbidden: this principal's role is below ``role``."""
        if not allows(self.role, role):
            raise Forbidden(
                f"this needs the {role} role; the token {self.name!r} has {self.role}",
                field="role",
            )


ANONYMOUS = Principal("anonymous", "admin")
ENV_ADMIN = Principal("env-admin", "admin", token_id="env")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(
    name: str, role: Role, *, now: datetime, expires_at: datetime | None = None
) -> tuple[Token, str]:
    """A new token record and the text to give the user (the only time it exists).

    :raises ValidationError: an unknown role, or an expiry that is not in the future.
    """
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, not {role!r}", field="role")
    if expires_at is not None and expires_at <= now:
        raise ValidationError("expires_at must be in the future", field="expires_at")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = Token(
        id=token_id,
        name=name,
        role=role,
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=expires_at,
    )
    return record, f"{PREFIX}{token_id}_{secret}"


def is_admin_token(raw: str, admin_token: str | None) -> bool:
    """Whether ``raw`` is the configured admin token (compared in constant time); known
    without the store."""
    return bool(admin_token) and hmac.compare_digest(raw.encode(), str(admin_token).encode())


async def authenticate(store: Store, raw: str, *, admin_token: str | None) -> Principal | None:
    """The principal a presented token stands for; None when it is not valid now."""
    if is_admin_token(raw, admin_token):
        return ENV_ADMIN
    if not raw.startswith(PREFIX):
        return None
    token_id, sep, secret = raw[len(PREFIX) :].partition("_")
    if not sep or not token_id or not secret:
        return None
    try:
        token = await store.get_token(token_id)
    except NotFound:
        return None
    if not hmac.compare_digest(hash_secret(secret), token.secret_hash):
        return None
    if not token.usable(await store.now()):
        return None
    return Principal(token.name, token.role, token_id=token.id)


def _env_session_owner(admin_token: str) -> str:
    return ENV_SESSION_PREFIX + hash_secret(admin_token)[:32]


async def open_session(
    store: Store, principal: Principal, *, ttl: float, admin_token: str | None
) -> str:
    """Start a dashboard session for a principal that just logged in with a valid token;
    return its id (for the cookie: the only copy, the store keeps its hash)."""
    if principal.token_id == ENV_ADMIN.token_id and admin_token:
        owner = _env_session_owner(admin_token)
    elif principal.token_id is not None:
        owner = principal.token_id
    else:
        raise ValidationError("only a token's holder can open a dashboard session")
    session_id = secrets.token_urlsafe(32)
    now = await store.now()
    expires = now + timedelta(seconds=ttl)
    await store.create_session(DashboardSession(hash_secret(session_id), owner, now, expires))
    return session_id


async def session_principal(
    store: Store, session_id: str, *, admin_token: str | None
) -> Principal | None:
    """Who a dashboard session stands for; None when it is unknown, ended or expired, or
    its token stopped being valid (revoked, expired, or the admin token was changed)."""
    if not session_id or len(session_id) > MAX_SESSION_ID:
        return None
    try:
        session = await store.get_session(hash_secret(session_id))
    except NotFound:
        return None
    now = await store.now()
    if session.expires_at <= now:
        return None
    if session.token_id.startswith(ENV_SESSION_PREFIX):
        if admin_token and hmac.compare_digest(session.token_id, _env_session_owner(admin_token)):
            return ENV_ADMIN
        return None
    try:
        token = await store.get_token(session.token_id)
    except NotFound:
        return None
    if not token.usable(now):
        return None
    return Principal(token.name, token.role, token_id=token.id)


async def close_session(store: Store, session_id: str) -> None:
    """End a dashboard session (nothing happens for an unknown one)."""
    if session_id and len(session_id) <= MAX_SESSION_ID:
        await store.delete_session(hash_secret(session_id))
