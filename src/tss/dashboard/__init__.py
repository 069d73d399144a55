"""The web dashboard at ``/dashboard``, served by the API's FastAPI app.

It is a face like the CLI: its scripts call the REST API (``/api/v1``) with the session
cookie, and hold no business rules. Every file it needs ships in this package.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tss.dashboard import pages, session

__all__ = ["mount_dashboard"]


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard on ``app`` (the API app, whose state holds the TSS node)."""
    app.mount(
        f"{pages.PREFIX}/static",
        StaticFiles(directory=str(pages.STATIC)),
        name="dashboard-static",
    )
    app.include_router(session.router)
    app.include_router(pages.router)
    app.add_middleware(pages.SecurityHeaders)
