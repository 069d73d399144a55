"""The FastAPI application: ``/api/v1``, the seed routes, health, readiness and metrics.

It knows nothing of the dashboard: :mod:`tss.web` mounts both on one app.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from tss._version import __version__
from tss.api import (
    routes_admin,
    routes_alerts,
    routes_flows,
    routes_history,
    routes_jobs,
    routes_ledger,
    routes_pauses,
    routes_retention,
    routes_runs,
    routes_stats,
    routes_workers,
)
from tss.api.auth import needs, sees_internals
from tss.api.errors import BodyLimit, TSSRoute, install_handlers
from tss.api.headers import ApiHeaders
from tss.api.health import Readiness
from tss.api.params import AUTH_ERRORS
from tss.config import Settings
from tss.metrics import CONTENT_TYPE
from tss.service import TSSApp

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
OPENAPI_URL = f"{PREFIX}/openapi.json"


@dataclass
class ApiState:
    """What the routes reach through ``request.app.state.api``."""

    tss: TSSApp
    settings: Settings
    #: token id -> when its use was last written to the store (monotonic seconds)
    touched: dict[str, float] = field(default_factory=dict)
    #: set when the server is shutting down: live streams end instead of holding it open
    closing: asyncio.Event = field(default_factory=asyncio.Event)


def create_api(tss: TSSApp, *, mounts: Sequence[Callable[[FastAPI], None]] = ()) -> FastAPI:
    """The HTTP face of ``tss``; the caller starts and closes ``tss`` (and serves this).
    Each of ``mounts`` adds its routes to the app (the dashboard, see :mod:`tss.web`)
    before the API's middleware wraps them all."""
    settings = tss.settings
    app = FastAPI(
        title="TSS",
        version=__version__,
        description="The TSS REST API. Every route but /healthz and /readyz needs a bearer "
        "token (`tss token create`); each says the role it needs (x-tss-role). This "
        "document and Swagger UI need the viewer role.",
        # Served below behind the viewer role, like every route but health.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # Starlette would answer a stray trailing slash with an absolute redirect built from
        # the Host header (a cache-poisoning vector); such a path is simply not found.
        redirect_slashes=False,
    )
    app.router.route_class = TSSRoute
    app.state.api = ApiState(tss=tss, settings=settings)
    install_handlers(app)
    app.include_router(routes_jobs.router, prefix=PREFIX)
    app.include_router(routes_ledger.router, prefix=PREFIX)
    app.include_router(routes_pauses.router, prefix=PREFIX)
    app.include_router(routes_runs.router, prefix=PREFIX)
    app.include_router(routes_flows.router, prefix=PREFIX)
    app.include_router(routes_stats.router, prefix=PREFIX)
    app.include_router(routes_alerts.router, prefix=PREFIX)
    app.include_router(routes_history.router, prefix=PREFIX)
    app.include_router(routes_retention.router, prefix=PREFIX)
    app.include_router(routes_admin.tokens, prefix=PREFIX)
    app.include_router(routes_workers.router, prefix=PREFIX)
    app.include_router(routes_admin.seed)
    _health(app)
    _openapi(app)
    if settings.api.docs:
        _docs(app)
    for mount in mounts:
        mount(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Last-Event-ID"],
            expose_headers=["ETag"],
        )
    app.add_middleware(BodyLimit, limit=settings.api.max_body)
    app.add_middleware(ApiHeaders)  # outermost: its headers reach every answer, 413 too
    return app


def _health(app: FastAPI) -> None:
    readiness = Readiness(app.state.api.tss)

    @app.get("/healthz", tags=["health"], openapi_extra={"x-tss-role": "none"})
    async def healthz() -> dict[str, str]:
        """The process is alive (no store or broker is touched)."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        openapi_extra={"x-tss-role": "none"},
        responses={503: {"description": "the store or broker does not answer (see checks)"}},
    )
    async def readyz(request: Request) -> Response:
        """The store and the broker answer, each within a second (503 names what is down;
        why in full only to a caller on this host, or one presenting the admin token)."""
        return await readiness.response(detail=sees_internals(request))

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}}, **AUTH_ERRORS},
        **needs("viewer"),
    )
    async def metrics(request: Request) -> Response:
        """Prometheus text format: runs by job and state, run duration, fire lateness,
        queue depth and workers."""
        tss: TSSApp = request.app.state.api.tss
        return Response(await tss.admin.metrics(), media_type=CONTENT_TYPE)


def _openapi(app: FastAPI) -> None:
    # It maps the whole surface: a viewer token (or the dashboard's session) reads it.
    @app.get(OPENAPI_URL, include_in_schema=False, **needs("viewer"))
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())


def _docs(app: FastAPI) -> None:
    # Swagger UI's files come from a package, not a CDN: the docs work offline. They are
    # the same for everyone and stay public; the page and the document need a viewer.
    static = importlib.resources.files("fastapi_offline") / "static"
    app.mount(f"{PREFIX}/docs/static", StaticFiles(directory=str(static)), name="docs-static")

    @app.get(f"{PREFIX}/docs", include_in_schema=False, **needs("viewer"))
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="TSS API",
            swagger_js_url=f"{PREFIX}/docs/static/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/docs/static/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/docs/static/favicon.png",
        )


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document (as served at ``/api/v1/openapi.json``)."""
    return app.openapi()
