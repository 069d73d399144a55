"""Fixtures of the API tests: one live node per test module, and a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI, live_api


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAPI]:
    """A live node on SQLite, then the same tests on PostgreSQL (a database of their own)."""
    folder: Path = tmp_path_factory.mktemp("api")
    overrides = {}
    if request.param == "postgres":
        from tests.servers import PgDatabases

        overrides = {"store": {"url": PgDatabases.shared(request.config).create()}}
    with live_api(folder, **overrides) as node:
        yield node


@pytest.fixture(scope="module")
def admin(api: LiveAPI) -> Iterator[httpx.Client]:
    with api.client(ADMIN) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(api: LiveAPI, admin: httpx.Client) -> dict[str, str]:
    """A token per role, plus one revoked and one bad one."""
    out: dict[str, str] = {}
    for role in ("viewer", "operator", "admin"):
        made = admin.post("/api/v1/tokens", json={"name": f"t-{role}", "role": role})
        assert made.status_code == 201, made.text
        out[role] = made.json()["token"]
    revoked = admin.post("/api/v1/tokens", json={"name": "t-revoked", "role": "admin"})
    out["revoked"] = revoked.json()["token"]
    assert admin.delete("/api/v1/tokens/t-revoked").status_code == 204
    out["bad"] = out["admin"][:-4] + "xxxx"
    return out


@pytest.fixture(scope="module")
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAPI]:
    """A node on SQLite of the test module's own (with default settings)."""
    folder: Path = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    with live_api(folder) as live:
        yield live
