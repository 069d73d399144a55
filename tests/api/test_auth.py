"""The auth matrix: every route in the OpenAPI document, called with no token, a bad token,
a revoked token and each role, gets 401, 403 or 2xx as its ``x-tss-role`` says.

The routes come from the document, so a new route is in the matrix without a change here;
:data:`SAMPLES` must hold a valid request for it (a test says so) so that the 2xx half of
the table is checked too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI, live_api
from tss.tokens import new_token

ROLES = ("viewer", "operator", "admin", "worker")
#: the people's roles, each with what the ones before it have; ``worker`` reaches only the
#: worker protocol, which an admin reaches too
RANKS = ("viewer", "operator", "admin")


def allowed(who: str, needed: str) -> bool:
    if needed == "worker":
        return who in ("worker", "admin")
    return who != "worker" and RANKS.index(who) >= RANKS.index(needed)


_n = itertools.count()
Sample = Callable[[httpx.Client], tuple[str, Any]]


def fresh_job(admin: httpx.Client) -> str:
    name = f"m-{next(_n)}"
    assert admin.post("/api/v1/jobs", json={"name": name, "type": "noop"}).status_code == 201
    return name


def later_run(admin: httpx.Client) -> str:
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = admin.post(f"/api/v1/jobs/{fresh_job(admin)}/runs", json={"run_at": at})
    run_id: str = made.json()["id"]
    return run_id


def ended_run(admin: httpx.Client) -> str:
    run_id = later_run(admin)
    assert admin.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
    return run_id


def flow_run(admin: httpx.Client) -> str:
    """A flow run that has not started: a root job run later, and a job that waits for it."""
    root = fresh_job(admin)
    child = f"m-{next(_n)}"
    made = admin.post("/api/v1/jobs", json={"name": child, "type": "noop", "depends_on": [root]})
    assert made.status_code == 201
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    run_id: str = admin.post(f"/api/v1/jobs/{root}/runs", json={"run_at": at}).json()["id"]
    return run_id


def _report_path(template: str) -> Sample:
    """A TME report (``status``) on a job with a run queued where no worker takes it."""

    def sample(admin: httpx.Client) -> tuple[str, Any]:
        name = f"m-{next(_n)}"
        made = admin.post("/api/v1/jobs", json={"name": name, "type": "noop", "pool": "nobody"})
        assert made.status_code == 201
        assert admin.post(f"/api/v1/jobs/{name}/runs", json={}).status_code == 201
        return template.format(name=name), {"status": "started", "log": "begun\n"}

    return sample


def fresh_worker(admin: httpx.Client) -> str:
    worker = f"w-{next(_n)}"
    body = {"id": worker, "pools": ["nobody"], "task_types": ["noop"]}
    assert admin.post("/api/v1/workers", json=body).status_code == 201
    return worker


def _worker_path(template: str, body: Any = None) -> Sample:
    return lambda a: (template.format(worker=fresh_worker(a)), body)


def fresh_token(admin: httpx.Client) -> str:
    name = f"tok-{next(_n)}"
    assert admin.post("/api/v1/tokens", json={"name": name, "role": "viewer"}).status_code == 201
    return name


def _job_path(template: str, body: Any = None) -> Sample:
    return lambda admin: (template.format(name=fresh_job(admin)), body)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    """A node of this module's own, with an alert channel (the log) to test."""
    folder: Path = tmp_path_factory.mktemp("auth")
    with live_api(folder, alerts={"channels": {"log": {"type": "log"}}}) as live:
        yield live


def sent_alert(admin: httpx.Client) -> str:
    made = admin.post("/api/v1/alerts/test", json={"channel": "log"})
    assert made.status_code == 201, made.text
    alert_id: str = made.json()["id"]
    return alert_id


def silenced_job(admin: httpx.Client) -> str:
    name = fresh_job(admin)
    body = {"duration": 600, "note": "matrix"}
    assert admin.put(f"/api/v1/jobs/{name}/silence", json=body).status_code == 200
    return name


def scheduled_job(admin: httpx.Client) -> str:
    name = f"m-{next(_n)}"
    body = {"name": name, "type": "noop", "pool": "nobody", "schedule": "0 3 * * *"}
    assert admin.post("/api/v1/jobs", json=body).status_code == 201
    return name


def active_backfill(admin: httpx.Client) -> str:
    """The stop URL of a backfill still going: one fire made of three, one at a time (its
    runs wait in a pool no worker serves)."""
    name = scheduled_job(admin)
    body = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-04T00:00:00Z", "max_active": 1}
    made = admin.post(f"/api/v1/jobs/{name}/backfill", json=body)
    assert made.status_code == 200, made.text
    return f"/api/v1/jobs/{name}/backfills/{made.json()['backfill']['id']}/stop"


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/api/v1/jobs"): lambda a: ("/api/v1/jobs", None),
    ("POST", "/api/v1/jobs"): lambda a: ("/api/v1/jobs", {"name": f"m-{next(_n)}", "type": "noop"}),
    ("POST", "/api/v1/jobs/apply"): lambda a: (
        "/api/v1/jobs/apply",
        {"jobs": [{"name": f"m-{next(_n)}", "type": "noop"}]},
    ),
    ("GET", "/api/v1/jobs/{name}"): _job_path("/api/v1/jobs/{name}"),
    ("PUT", "/api/v1/jobs/{name}"): _job_path("/api/v1/jobs/{name}", {"type": "noop"}),
    ("PATCH", "/api/v1/jobs/{name}"): _job_path("/api/v1/jobs/{name}", {"priority": 3}),
    ("DELETE", "/api/v1/jobs/{name}"): _job_path("/api/v1/jobs/{name}"),
    ("POST", "/api/v1/jobs/{name}/pause"): _job_path(
        "/api/v1/jobs/{name}/pause", {"note": "matrix", "until": "1h"}
    ),
    ("POST", "/api/v1/jobs/{name}/resume"): _job_path("/api/v1/jobs/{name}/resume"),
    ("POST", "/api/v1/jobs/pause"): lambda a: (
        "/api/v1/jobs/pause",
        {"names": [fresh_job(a)], "note": "matrix", "until": "1h"},
    ),
    ("POST", "/api/v1/jobs/resume"): lambda a: ("/api/v1/jobs/resume", {"names": [fresh_job(a)]}),
    ("GET", "/api/v1/jobs/{name}/next"): _job_path("/api/v1/jobs/{name}/next"),
    ("POST", "/api/v1/jobs/{name}/runs"): _job_path("/api/v1/jobs/{name}/runs", {}),
    ("GET", "/api/v1/runs"): lambda a: ("/api/v1/runs", None),
    ("GET", "/api/v1/runs/{run_id}"): lambda a: (f"/api/v1/runs/{later_run(a)}", None),
    ("GET", "/api/v1/runs/{run_id}/logs"): lambda a: (f"/api/v1/runs/{ended_run(a)}/logs", None),
    ("POST", "/api/v1/runs/{run_id}/cancel"): lambda a: (
        f"/api/v1/runs/{later_run(a)}/cancel",
        None,
    ),
    ("POST", "/api/v1/runs/{run_id}/retry"): lambda a: (f"/api/v1/runs/{ended_run(a)}/retry", None),
    ("GET", "/api/v1/jobs/{name}/flow"): _job_path("/api/v1/jobs/{name}/flow"),
    ("GET", "/api/v1/flows"): lambda a: ("/api/v1/flows", None),
    ("GET", "/api/v1/flows/{flow_id}"): lambda a: (f"/api/v1/flows/{flow_run(a)}", None),
    ("POST", "/api/v1/flows/{flow_id}/cancel"): lambda a: (
        f"/api/v1/flows/{flow_run(a)}/cancel",
        None,
    ),
    ("GET", "/api/v1/workers"): lambda a: ("/api/v1/workers", None),
    ("GET", "/api/v1/events"): lambda a: ("/api/v1/events", None),
    ("GET", "/api/v1/events/stream"): lambda a: ("/api/v1/events/stream", None),
    ("GET", "/api/v1/stats"): lambda a: ("/api/v1/stats", None),
    ("GET", "/api/v1/stats/queues"): lambda a: ("/api/v1/stats/queues", None),
    ("GET", "/api/v1/stats/lateness"): lambda a: ("/api/v1/stats/lateness", None),
    ("GET", "/api/v1/stats/jobs"): _job_path("/api/v1/stats/jobs?job={name}"),
    ("GET", "/api/v1/alerts"): lambda a: ("/api/v1/alerts", None),
    ("GET", "/api/v1/alerts/{alert_id}"): lambda a: (f"/api/v1/alerts/{sent_alert(a)}", None),
    ("POST", "/api/v1/alerts/test"): lambda a: ("/api/v1/alerts/test", {"channel": "log"}),
    ("GET", "/api/v1/silences"): lambda a: ("/api/v1/silences", None),
    ("PUT", "/api/v1/jobs/{name}/silence"): _job_path(
        "/api/v1/jobs/{name}/silence", {"duration": 600, "note": "matrix"}
    ),
    ("DELETE", "/api/v1/jobs/{name}/silence"): lambda a: (
        f"/api/v1/jobs/{silenced_job(a)}/silence",
        None,
    ),
    ("GET", "/api/v1/jobs/{name}/versions"): _job_path("/api/v1/jobs/{name}/versions"),
    ("GET", "/api/v1/jobs/{name}/versions/{version}"): _job_path(
        "/api/v1/jobs/{name}/versions/1?against=1"
    ),
    ("POST", "/api/v1/jobs/{name}/rollback"): _job_path("/api/v1/jobs/{name}/rollback", {"to": 1}),
    ("GET", "/api/v1/audit"): lambda a: ("/api/v1/audit?action=job.create&limit=5", None),
    ("GET", "/api/v1/jobs/{name}/fires"): lambda a: (
        f"/api/v1/jobs/{scheduled_job(a)}/fires?since=2026-01-01T00:00:00Z&limit=5",
        None,
    ),
    ("POST", "/api/v1/jobs/{name}/backfill"): lambda a: (
        f"/api/v1/jobs/{scheduled_job(a)}/backfill",
        {"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z", "dry_run": True},
    ),
    ("GET", "/api/v1/jobs/{name}/backfills"): lambda a: (
        f"/api/v1/jobs/{scheduled_job(a)}/backfills?limit=5",
        None,
    ),
    ("POST", "/api/v1/jobs/{name}/backfills/{backfill_id}/stop"): lambda a: (
        active_backfill(a),
        None,
    ),
    ("GET", "/api/v1/upcoming"): lambda a: ("/api/v1/upcoming?hours=2", None),
    ("POST", "/api/v1/admin/prune"): lambda a: ("/api/v1/admin/prune", {"dry_run": True}),
    ("GET", "/api/v1/tokens"): lambda a: ("/api/v1/tokens", None),
    ("POST", "/api/v1/tokens"): lambda a: (
        "/api/v1/tokens",
        {"name": f"tok-{next(_n)}", "role": "viewer"},
    ),
    ("DELETE", "/api/v1/tokens/{id_or_name}"): lambda a: (f"/api/v1/tokens/{fresh_token(a)}", None),
    ("POST", "/api/v1/workers"): lambda a: (
        "/api/v1/workers",
        {"id": f"w-{next(_n)}", "pools": ["nobody"], "task_types": ["noop"]},
    ),
    ("POST", "/api/v1/workers/{worker_id}/claim"): _worker_path(
        "/api/v1/workers/{worker}/claim", {"limit": 0}
    ),
    ("POST", "/api/v1/workers/{worker_id}/heartbeat"): _worker_path(
        "/api/v1/workers/{worker}/heartbeat", {"runs": []}
    ),
    ("POST", "/api/v1/workers/{worker_id}/outcomes"): _worker_path(
        "/api/v1/workers/{worker}/outcomes",
        {"outcomes": [{"run_id": "nope", "attempt": 1, "status": "succeeded"}]},
    ),
    ("PATCH", "/api/v1/workers/{worker_id}"): _worker_path(
        "/api/v1/workers/{worker}", {"state": "up"}
    ),
    ("GET", "/tasks/"): lambda a: ("/tasks/", None),
    ("POST", "/tasks/create"): lambda a: (
        "/tasks/create",
        {"name": f"m-{next(_n)}", "type": "noop"},
    ),
    ("GET", "/task/{task_id}"): _job_path("/task/{name}"),
    # These take a job definition from an admin, and a TME report from a worker too.
    ("PUT", "/task/{task_id}"): _report_path("/task/{name}"),
    ("PUT", "/task/{task_id}/"): _report_path("/task/{name}/"),
    ("PATCH", "/task/{task_id}/"): _report_path("/task/{name}/"),
    ("DELETE", "/task/{task_id}/"): _job_path("/task/{name}/"),
    ("POST", "/v1/queue"): lambda a: ("/v1/queue", {"worker_id": f"w-{next(_n)}"}),
    ("GET", "/healthz"): lambda a: ("/healthz", None),
    ("GET", "/readyz"): lambda a: ("/readyz", None),
    ("GET", "/metrics"): lambda a: ("/metrics", None),
}


def routes(node: LiveAPI) -> list[tuple[str, str, str]]:
    with node.client(ADMIN) as client:
        document = client.get("/api/v1/openapi.json").json()
    out = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "x-tss-role" in operation, f"{method} {path} does not declare its role"
            out.append((method.upper(), path, operation["x-tss-role"]))
    return out


def call(client: httpx.Client, method: str, url: str, body: Any) -> int:
    # The live stream never ends: read its status, then hang up.
    with client.stream(method, url, json=body) as response:
        return response.status_code


def test_every_route_has_a_sample(node: LiveAPI) -> None:
    missing = [(m, p) for m, p, _ in routes(node) if (m, p) not in SAMPLES]
    assert not missing, f"add a request for these routes to SAMPLES: {missing}"
    assert len(routes(node)) == len(SAMPLES)


def test_matrix(node: LiveAPI) -> None:
    with node.client(ADMIN) as admin:
        tokens = {}
        for role in ROLES:
            made = admin.post("/api/v1/tokens", json={"name": f"matrix-{role}", "role": role})
            tokens[role] = made.json()["token"]
        revoked = admin.post("/api/v1/tokens", json={"name": "matrix-revoked", "role": "admin"})
        tokens["revoked"] = revoked.json()["token"]
        assert admin.delete("/api/v1/tokens/matrix-revoked").status_code == 204
        tokens["bad"] = tokens["admin"][:-6] + "abcdef"
        tokens["garbage"] = "not-a-token"

        failures = []
        for method, path, needed in routes(node):
            sample = SAMPLES[(method, path)]
            for who in (None, "bad", "garbage", "revoked", *ROLES):
                url, body = sample(admin)
                with node.client(tokens[who] if who else None) as client:
                    status = call(client, method, url, body)
                if needed == "none":
                    want = "2xx"
                elif who in ROLES:
                    want = "2xx" if allowed(who, needed) else "403"
                else:
                    want = "401"
                ok = 200 <= status < 300 if want == "2xx" else status == int(want)
                if not ok:
                    failures.append(f"{method} {path} as {who}: {status}, want {want}")
        assert not failures, "\n".join(failures)


def test_error_shape_and_header(node: LiveAPI) -> None:
    with node.client(None) as client:
        response = client.get("/api/v1/jobs")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    with node.client("tss_0000_nope") as client:
        assert client.get("/api/v1/jobs").json()["error"]["code"] == "unauthorized"


def test_expired_token_is_refused(node: LiveAPI) -> None:
    """One token that expired an hour ago, one that expires tomorrow: no race with the
    clock, whatever the load."""

    async def make() -> tuple[str, str]:
        now = await node.tss.store.now()
        # as made two hours ago, for an hour (new tokens must expire in the future)
        record, expired = new_token(
            "gone", "admin", now=now - timedelta(hours=2), expires_at=now - timedelta(hours=1)
        )
        await node.tss.store.create_token(record)
        _record, valid = await node.tss.admin.create_token(
            "tomorrow", "admin", expires_at=now + timedelta(days=1)
        )
        return expired, valid

    expired, valid = node.call(make())
    with node.client(valid) as client:
        assert client.get("/api/v1/jobs").status_code == 200
    with node.client(expired) as client:
        response = client.get("/api/v1/jobs")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_token_list_never_shows_secrets(node: LiveAPI) -> None:
    with node.client(ADMIN) as admin:
        made = admin.post("/api/v1/tokens", json={"name": "secret-check", "role": "viewer"})
        listed = admin.get("/api/v1/tokens")
    secret = made.json()["token"]
    assert secret.removeprefix("tss_").partition("_")[2] not in listed.text
    assert "secret_hash" not in listed.text
    assert any(t["name"] == "secret-check" for t in listed.json()["items"])


def test_cors_is_off_unless_origins_are_listed(node: LiveAPI, tmp_path: Path) -> None:
    preflight = {"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"}
    with node.client(ADMIN) as client:
        plain = client.get("/api/v1/jobs", headers={"Origin": "https://ops.example"})
        assert "access-control-allow-origin" not in plain.headers
    origins = {"cors_origins": ["https://ops.example"]}
    with live_api(tmp_path, api=origins) as other, other.client(ADMIN) as client:
        allowed = client.options("/api/v1/jobs", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://ops.example"
        other_origin = client.get("/api/v1/jobs", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other_origin.headers
