"""Finding 5: job and run ``env`` values reach only admins. Every GET route of the OpenAPI
document (and every write an operator may make that answers with a job or a run) is read
with each role: no role but admin sees a literal env value; secret references show as
written; ``kwargs`` are not secret."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI
from tss.core.alerts import Alert

SECRET = "hunter2-literal-env-value"
REF = {"from_env": "SOME_VAR"}
FILE_REF = {"from_file": "/run/secrets/db"}
ROLES = ("viewer", "operator", "admin")
HOOK_SECRET = "header-literal-secret"
HOOK_PARAMS = {
    "url": "https://hooks.example/x?token=url-query-secret&page=1",
    "headers": {"Authorization": f"Bearer {HOOK_SECRET}", "X-Ref": REF},
}


@pytest.fixture(scope="module")
def world(node: LiveAPI) -> dict[str, str]:
    """A shell job with env (literal, references) at the root of a flow, a python job with
    kwargs, a run of each (later, so they wait), and a token per role."""
    out: dict[str, str] = {}
    with node.client(ADMIN) as admin:
        env = {"PASSWORD": SECRET, "NUMBER": 12345678, "REF": REF, "FILE": FILE_REF}
        shell = {"name": "env-job", "type": "shell", "params": {"argv": ["true"], "env": env}}
        assert admin.post("/api/v1/jobs", json=shell).status_code == 201
        child = {"name": "env-child", "type": "noop", "depends_on": ["env-job"]}
        assert admin.post("/api/v1/jobs", json=child).status_code == 201
        python = {
            "name": "kw-job",
            "type": "python",
            "params": {"function": "api_tasks:greet", "kwargs": {"name": "monday"}},
        }
        made = admin.post("/api/v1/jobs", json=python)
        assert made.status_code == 201, made.text
        hook = {"name": "hook-job", "type": "http", "params": HOOK_PARAMS}
        assert admin.post("/api/v1/jobs", json=hook).status_code == 201
        at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        run = admin.post("/api/v1/jobs/env-job/runs", json={"run_at": at})
        assert run.status_code == 201, run.text
        hook_run = admin.post("/api/v1/jobs/hook-job/runs", json={"run_at": at})
        assert hook_run.status_code == 201, hook_run.text
        out["run"] = run.json()["id"]
        for role in ROLES:
            token = admin.post("/api/v1/tokens", json={"name": f"sec-{role}", "role": role})
            out[role] = token.json()["token"]
    out["alert"] = node.call(_an_alert(node))
    return out


async def _an_alert(node: LiveAPI) -> str:
    """An alert about the env job's run, as the keeper stores them."""
    now = await node.tss.store.now()
    alert = Alert(
        id="dead:env-job:1@ops",
        channel="ops",
        kind="dead",
        subject="[TSS] env-job failed",
        text="Job env-job failed.",
        created_at=now,
        next_at=now,
        job="env-job",
    )
    await node.tss.store.add_alerts([alert])
    return alert.id


def get_paths(node: LiveAPI, world: dict[str, str]) -> list[str]:
    """Every GET route of the API with its path parameters filled with the env job's."""
    with node.client(ADMIN) as admin:
        document = admin.get("/api/v1/openapi.json").json()
    values = {
        "name": "env-job",
        "task_id": "env-job",
        "run_id": world["run"],
        "flow_id": world["run"],
        "alert_id": world["alert"],
        "version": "1",
    }
    paths = []
    for path, operations in document["paths"].items():
        if "get" not in operations or path.endswith("/stream"):
            continue  # the stream carries events, which hold no params
        filled = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        query = "?job=env-job" if path == "/api/v1/stats/jobs" else ""
        paths.append(filled + query)
    return paths


def test_the_sweep_covers_the_routes_that_return_params(
    node: LiveAPI, world: dict[str, str]
) -> None:
    paths = get_paths(node, world)
    for needed in (
        "/api/v1/jobs",
        "/api/v1/jobs/env-job",
        "/api/v1/runs",
        f"/api/v1/runs/{world['run']}",
        f"/api/v1/flows/{world['run']}",
        "/tasks/",
        "/task/env-job",
        "/api/v1/jobs/env-job/versions",
        "/api/v1/jobs/env-job/versions/1",
    ):
        assert needed in paths


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_no_get_route_shows_env_values_below_admin(
    node: LiveAPI, world: dict[str, str], role: str
) -> None:
    with node.client(world[role]) as client:
        for path in get_paths(node, world):
            answer = client.get(path)
            assert answer.status_code in (200, 403), (path, answer.text)
            assert SECRET not in answer.text, path
            assert "12345678" not in answer.text, path


def _env_of_job(body: dict[str, Any]) -> Any:
    return body["spec"]["params"]["env"]


@pytest.mark.parametrize("role", ROLES)
def test_jobs_runs_and_flows_mask_env_by_role(
    node: LiveAPI, world: dict[str, str], role: str
) -> None:
    masked = {"PASSWORD": "***", "NUMBER": "***", "REF": REF, "FILE": FILE_REF}
    clear = {"PASSWORD": SECRET, "NUMBER": 12345678, "REF": REF, "FILE": FILE_REF}
    expected = clear if role == "admin" else masked
    run_id = world["run"]
    with node.client(world[role]) as client:
        assert _env_of_job(client.get("/api/v1/jobs/env-job").json()) == expected
        listed = client.get("/api/v1/jobs", params={"prefix": "env-job"}).json()["items"]
        assert [_env_of_job(j) for j in listed if j["name"] == "env-job"] == [expected]
        assert _env_of_job(client.get("/task/env-job").json()) == expected
        seed = client.get("/tasks/", params={"prefix": "env-job"}).json()["items"]
        assert [_env_of_job(j) for j in seed if j["name"] == "env-job"] == [expected]
        assert client.get(f"/api/v1/runs/{run_id}").json()["params"]["env"] == expected
        runs = client.get("/api/v1/runs", params={"job": "env-job"}).json()["items"]
        assert [r["params"]["env"] for r in runs if r["id"] == run_id] == [expected]
        flow = client.get(f"/api/v1/flows/{run_id}").json()
        assert [r["params"]["env"] for r in flow["runs"] if r["id"] == run_id] == [expected]
        kwargs = client.get("/api/v1/jobs/kw-job").json()["spec"]["params"]["kwargs"]
        assert kwargs == {"name": "monday"}  # not secret: shown to every role


def test_operator_writes_answer_with_masked_env(node: LiveAPI, world: dict[str, str]) -> None:
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with node.client(world["operator"]) as op:
        answers = [
            op.post("/api/v1/jobs/env-job/pause"),
            op.post("/api/v1/jobs/env-job/resume"),
        ]
        run = op.post("/api/v1/jobs/env-job/runs", json={"run_at": at})
        answers.append(run)
        answers.append(op.post(f"/api/v1/runs/{run.json()['id']}/cancel"))
        answers.append(op.post(f"/api/v1/runs/{run.json()['id']}/retry"))
        flow = op.post("/api/v1/jobs/env-job/runs", json={"run_at": at}).json()["id"]
        answers.append(op.post(f"/api/v1/flows/{flow}/cancel"))
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
        assert SECRET not in answer.text and '"***"' in answer.text, answer.request.url


def test_the_dashboard_session_of_a_viewer_reads_masked_env(
    node: LiveAPI, world: dict[str, str]
) -> None:
    with httpx.Client(base_url=node.url) as browser:
        assert browser.post("/dashboard/login", json={"token": world["viewer"]}).status_code == 200
        job = browser.get("/api/v1/jobs/env-job")
        assert job.status_code == 200
        assert _env_of_job(job.json())["PASSWORD"] == "***"
        assert SECRET not in browser.get(f"/api/v1/runs/{world['run']}").text


@pytest.mark.parametrize("role", ROLES)
def test_http_jobs_mask_header_values_and_url_secrets_by_role(
    node: LiveAPI, world: dict[str, str], role: str
) -> None:
    with node.client(world[role]) as client:
        job = client.get("/api/v1/jobs/hook-job")
        listed = client.get("/api/v1/jobs", params={"prefix": "hook-job"})
        runs = client.get("/api/v1/runs", params={"job": "hook-job"})
    params = job.json()["spec"]["params"]
    (run,) = runs.json()["items"]
    if role == "admin":
        assert params == HOOK_PARAMS and run["params"] == HOOK_PARAMS
        return
    assert params["headers"] == {"Authorization": "***", "X-Ref": REF}
    assert params["url"] == "https://hooks.example/x?token=***&page=1"
    assert run["params"] == params
    for answer in (job, listed, runs):
        assert HOOK_SECRET not in answer.text and "url-query-secret" not in answer.text
