"""URLs in messages: never show a password."""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

#: query parameters whose values are secrets (compared without case)
SECRET_QUERY_KEYS = frozenset(
    {
        "password",
        "sslpassword",
        "passwd",
        "pass",
        "secret",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "auth",
    }
)


def mask_url(url: str) -> str:
    """``postgresql://u:secret@h/db?password=x&sslmode=require`` ->
    ``postgresql://u:***@h/db?password=***&sslmode=require``: the userinfo password and the
    values of :data:`SECRET_QUERY_KEYS` masked, the rest unchanged (other text too)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    changed = parts
    if password:
        host = parts.netloc.rpartition("@")[2]
        changed = changed._replace(netloc=f"{parts.username or ''}:***@{host}")
    if parts.query:
        changed = changed._replace(query=_mask_query(parts.query))
    return url if changed == parts else urlunsplit(changed)


def _mask_query(query: str) -> str:
    """Mask the values of secret keys, keeping every other byte of the query as written."""
    out = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and value and unquote_plus(key).strip().lower() in SECRET_QUERY_KEYS:
            pair = f"{key}=***"
        out.append(pair)
    return "&".join(out)
