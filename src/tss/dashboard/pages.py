"""The dashboard's pages: one HTML shell for every path under ``/dashboard``, its theme
stylesheet (made from the config), and the static files that ship in the package.

The shell holds no data and no script of its own: the scripts are files under
``static/`` and read the configuration from a ``<meta>`` element, so the
Content-Security-Policy can forbid every inline script and style.
"""

from __future__ import annotations

import html
import importlib.resources
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tss._version import __version__
from tss.config import DashboardConfig, Settings
from tss.core.alerts import ALERT_STATES
from tss.core.history import AUDIT_ACTIONS
from tss.core.states import FAILURE_STATES, TERMINAL_STATES, RunState

router = APIRouter(include_in_schema=False)
STATIC = importlib.resources.files("tss.dashboard") / "static"
PREFIX = "/dashboard"

#: nothing but this origin's own files; no inline script or style, no framing
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]

_LIGHT = {
    "background": "#f6f8fa", "surface": "#ffffff", "text": "#1f2328", "muted": "#57606a",
    "accent": "#0b57d0", "border": "#d0d7de", "success": "#1a7f37", "failure": "#c62828",
    "warning": "#9a6700",
}  # fmt: skip
_DARK = {
    "background": "#0d1117", "surface": "#161b22", "text": "#e6edf3", "muted": "#9da7b3",
    "accent": "#58a6ff", "border": "#30363d", "success": "#3fb950", "failure": "#ff7b72",
    "warning": "#d29922",
}  # fmt: skip

#: the states the pages list first, the ones an operator watches; the rest follow in
#: the order of :class:`RunState`
_WATCHED_FIRST = (RunState.QUEUED, RunState.RUNNING, RunState.RETRYING)


class SecurityHeaders:
    """Adds the CSP and its companions to every response under ``/dashboard``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def client_config(settings: Settings) -> dict[str, Any]:
    """What the scripts need to know of the config (nothing secret)."""
    board = settings.dashboard
    return {
        "title": board.title,
        "timezone": board.timezone,
        "refresh": board.refresh,
        "refresh_interval": board.refresh_interval,
        "pages": board.pages,
        "job_columns": board.job_columns,
        "run_columns": board.run_columns,
        "page_size": board.page_size,
        "auth": settings.api.auth,
        "version": __version__,
        "states": run_states(),
        "alert_states": list(ALERT_STATES),
        "audit_actions": list(AUDIT_ACTIONS),
    }


def run_states() -> dict[str, list[str]]:
    """The run states the scripts list (``static/js/states.js``), from ``tss.core.states``:
    ``all`` in the order the pages show them, then the ``terminal`` ones and the ends in
    ``failure``, each in that same order."""
    order = [*_WATCHED_FIRST, *(state for state in RunState if state not in _WATCHED_FIRST)]
    return {
        "all": [state.value for state in order],
        "terminal": [state.value for state in order if state in TERMINAL_STATES],
        "failure": [state.value for state in order if state in FAILURE_STATES],
    }


def shell(settings: Settings) -> str:
    """The HTML every dashboard path answers with; the scripts draw the page."""
    title = html.escape(settings.dashboard.title)
    config = html.escape(orjson.dumps(client_config(settings)).decode(), quote=True)
    theme = settings.dashboard.theme.base
    return f"""<!doctype html>
<html lang="en" data-theme="{theme}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="tss-config" content="{config}">
<title>{title}</title>
<link rel="icon" href="{PREFIX}/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{PREFIX}/static/dashboard.css?v={__version__}">
<link rel="stylesheet" href="{PREFIX}/theme.css?v={__version__}">
<script type="module" src="{PREFIX}/static/js/main.js?v={__version__}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="{PREFIX}" data-link>{title}</a>
  <button type="button" class="menu-toggle" aria-expanded="false" aria-controls="nav">Menu</button>
  <nav id="nav" aria-label="Pages"></nav>
  <div class="who" id="who"></div>
</header>
<div id="banner" role="status" aria-live="polite"></div>
<main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
<noscript>The dashboard needs JavaScript.</noscript>
</body>
</html>
"""


def theme_css(board: DashboardConfig) -> str:
    """CSS variables for the configured theme; ``auto`` follows the browser's preference."""

    def block(selector: str, colours: dict[str, str]) -> str:
        lines = "".join(f"  --{name}: {value};\n" for name, value in colours.items())
        return f"{selector} {{\n{lines}}}\n"

    own = board.theme.colours()
    base = board.theme.base
    if base == "auto":
        return (
            block(":root", {**_LIGHT, **own})
            + "@media (prefers-color-scheme: dark) {\n"
            + block(":root", {**_DARK, **own})
            + "}\n"
        )
    return block(":root", {**(_DARK if base == "dark" else _LIGHT), **own})


@router.get(f"{PREFIX}/theme.css")
async def theme(request: Request) -> Response:
    settings: Settings = request.app.state.api.settings
    return Response(
        theme_css(settings.dashboard),
        media_type="text/css",
        headers={"Cache-Control": "no-cache"},
    )


@router.get(PREFIX)
@router.get(PREFIX + "/{path:path}")
async def page(request: Request, path: str = "") -> HTMLResponse:
    """Every page of the dashboard is the same shell; the script routes by the URL."""
    settings: Settings = request.app.state.api.settings
    return HTMLResponse(shell(settings), headers={"Cache-Control": "no-store"})
