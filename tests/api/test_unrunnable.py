"""A run no live worker can take says why it waits (``waiting_because``) and is failed with
that reason after ``scheduler.unrunnable_after``, on a live node (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.live import LiveAPI, live_api
from tests.api.test_jobs import make

R = "/api/v1/runs"
#: short enough for a test, long enough to read the run while it waits
BOUND = 1.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def short(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAPI]:
    """A node whose scheduler fails unrunnable runs after :data:`BOUND` seconds."""
    folder: Path = tmp_path_factory.mktemp("unrunnable")
    overrides: dict[str, Any] = {"scheduler": {"unrunnable_after": BOUND}}
    if request.param == "postgres":
        from tests.servers import PgDatabases

        overrides["store"] = {"url": PgDatabases.shared(request.config).create()}
    with live_api(folder, **overrides) as node:
        yield node


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _until(client: httpx.Client, run_id: str, state: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"{R}/{run_id}").json()
        if run["state"] == state:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run['state']}"
        time.sleep(0.05)


def test_runs_no_worker_can_take_say_why_then_fail(short: LiveAPI) -> None:
    with short.client() as admin:
        [worker] = admin.get("/api/v1/workers").json()["items"]
        cores = worker["cores"]
        make(admin, "gpu-job", type="noop", pool="gpu")
        make(admin, "huge-job", type="noop", resources={"cores": cores + 1})
        make(admin, "label-job", type="noop", requires=["region=eu", "gpu"])
        gpu = admin.post("/api/v1/jobs/gpu-job/runs", json={}).json()["id"]
        huge = admin.post("/api/v1/jobs/huge-job/runs", json={}).json()["id"]
        labelled = admin.post("/api/v1/jobs/label-job/runs", json={}).json()["id"]
        whys = {
            gpu: "no live worker serves pool 'gpu'",
            huge: f"needs {cores + 1:g} cores but the largest live worker in pool 'default' "
            f"has {cores:g}",
            labelled: "no live worker in pool 'default' has labels [gpu, region=eu]",
        }
        for run_id, why in whys.items():
            run = admin.get(f"{R}/{run_id}").json()
            assert (run["state"], run["waiting_because"]) == ("queued", why)
        listed = admin.get(R, params={"job": "gpu-job"}).json()["items"]
        assert [(r["id"], r["waiting_because"]) for r in listed] == [(gpu, whys[gpu])]

        for run_id, why in whys.items():
            failed = _until(admin, run_id, "failed")
            # not before the bound (the store's timestamps: it starts after the run is made)
            waited = _at(failed["finished_at"]) - _at(failed["created_at"])
            assert waited >= timedelta(seconds=BOUND), waited
            assert failed["error"]["type"] == "Unrunnable"
            assert failed["error"]["message"] == failed["reason"] == why
            assert failed["waiting_because"] is None
            assert failed["attempts"] == []


def test_a_run_a_worker_can_take_waits_for_nothing(short: LiveAPI) -> None:
    with short.client() as admin:
        make(admin, "fine-job", type="noop")
        run_id = admin.post("/api/v1/jobs/fine-job/runs", json={}).json()["id"]
        run = _until(admin, run_id, "succeeded")
        assert run["waiting_because"] is None
