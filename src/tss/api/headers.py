"""Headers every API answer carries: ``X-Content-Type-Options: nosniff`` everywhere, and
``Cache-Control: no-store`` on everything but the public, data-free paths (health and the
static files of the dashboard and of Swagger UI), so no shared cache keeps an answer that
needed a token.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: answered without a token and holding no data: caches may keep them
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/dashboard/theme.css"})
PUBLIC_PREFIXES = ("/dashboard/static/", "/api/v1/docs/static/")


def is_public(path: str) -> bool:
    """Whether ``path`` is one of the token-free paths that hold no data."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class ApiHeaders:
    """Pure ASGI middleware (streams pass through untouched) that sets the headers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = not is_public(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"x-content-type-options"
                    and not (private and k.lower() == b"cache-control")
                ]
                headers.append((b"x-content-type-options", b"nosniff"))
                if private:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
