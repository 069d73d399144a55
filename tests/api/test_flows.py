"""Flows over HTTP, run by the live node's own worker: graphs, flow runs, cancel, triggers
of downstream jobs, re-runs inside a flow, and deleting a job others depend on."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import httpx

from tests.api.test_jobs import make, wait_run

F = "/api/v1/flows"
_n = itertools.count()


def names(*jobs: str) -> dict[str, str]:
    """Job names unique to one test (the node is shared by the module)."""
    tag = next(_n)
    return {job: f"fl{tag}-{job}" for job in jobs}


def wait_flow(admin: httpx.Client, flow_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        flow: dict[str, Any] = admin.get(f"{F}/{flow_id}").json()
        if flow["state"] != "running":
            return flow
        assert time.monotonic() < deadline, f"flow still running: {flow['runs']}"
        time.sleep(0.05)


def by_job(flow: dict[str, Any]) -> dict[str, str]:
    """The state of each job's newest run in the flow."""
    return {run["job"]: run["state"] for run in flow["runs"]}


def etl(admin: httpx.Client, fail: dict[str, Any] | None = None) -> dict[str, str]:
    n = names("extract", "transform", "load", "cleanup")
    make(admin, n["extract"], type="noop")
    transform = {"type": "noop"} if fail is None else fail
    make(admin, n["transform"], depends_on=[n["extract"]], **transform)
    make(admin, n["load"], type="noop", depends_on=[{"job": n["transform"], "on": "success"}])
    make(admin, n["cleanup"], type="noop", depends_on=[{"job": n["transform"], "on": "failure"}])
    return n


def test_the_graph_of_a_job(admin: httpx.Client) -> None:
    n = etl(admin)
    graph = admin.get(f"/api/v1/jobs/{n['extract']}/flow").json()
    assert graph["root"] == n["extract"]
    # The root, then nearest first (by name within a level).
    assert [node["job"] for node in graph["nodes"]] == [
        n["extract"],
        n["transform"],
        n["cleanup"],
        n["load"],
    ]
    assert {node["trigger_rule"] for node in graph["nodes"]} == {"all"}
    edges = {(e["parent"], e["child"], e["on"]) for e in graph["edges"]}
    assert edges == {
        (n["extract"], n["transform"], "success"),
        (n["transform"], n["load"], "success"),
        (n["transform"], n["cleanup"], "failure"),
    }
    assert admin.get("/api/v1/jobs/no-such-job/flow").status_code == 404


def test_a_flow_runs_its_failure_branch_end_to_end(admin: httpx.Client) -> None:
    n = etl(admin, fail={"type": "python", "params": {"function": "api_tasks:boom"}})
    root = admin.post(f"/api/v1/jobs/{n['extract']}/runs", json={}).json()
    assert root["flow_id"] == root["id"]
    flow = wait_flow(admin, root["id"])
    assert flow["state"] == "failed"
    assert by_job(flow) == {
        n["extract"]: "succeeded",
        n["transform"]: "failed",
        n["load"]: "skipped",
        n["cleanup"]: "succeeded",
    }
    load = next(r for r in flow["runs"] if r["job"] == n["load"])
    assert f"'{n['transform']}' ended failed" in load["reason"]
    assert {(e["parent"], e["child"]) for e in flow["edges"]} >= {(n["transform"], n["load"])}


def test_a_rerun_inside_a_flow_decides_its_children_again(
    admin: httpx.Client, tmp_path: Path
) -> None:
    marker = tmp_path / f"ok-{next(_n)}"
    n = etl(
        admin,
        fail={
            "type": "python",
            "params": {"function": "api_tasks:needs_file", "kwargs": {"path": str(marker)}},
        },
    )
    root = admin.post(f"/api/v1/jobs/{n['extract']}/runs", json={}).json()
    flow = wait_flow(admin, root["id"])
    assert by_job(flow)[n["load"]] == "skipped"
    failed = next(r for r in flow["runs"] if r["job"] == n["transform"])
    marker.write_text("go")
    again = admin.post(f"/api/v1/runs/{failed['id']}/retry")
    assert again.status_code == 201, again.text
    assert again.json()["flow_id"] == root["id"]
    flow = wait_flow(admin, root["id"])
    states = by_job(flow)
    assert states[n["transform"]] == "succeeded"
    assert states[n["load"]] == "succeeded"
    assert states[n["cleanup"]] == "succeeded"  # it ran after the first failure; kept
    assert flow["state"] == "succeeded"
    # The old run was replaced: re-running it again is refused.
    assert admin.post(f"/api/v1/runs/{failed['id']}/retry").status_code == 409


def test_cancel_a_flow_run(admin: httpx.Client) -> None:
    n = etl(admin)
    at = "2999-01-01T00:00:00Z"
    root = admin.post(f"/api/v1/jobs/{n['extract']}/runs", json={"run_at": at}).json()
    flow = admin.get(f"{F}/{root['id']}").json()
    assert set(by_job(flow).values()) == {"scheduled", "waiting"}
    cancelled = admin.post(f"{F}/{root['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert set(by_job(cancelled.json()).values()) == {"cancelled"}
    assert cancelled.json()["state"] == "cancelled"
    assert admin.post(f"{F}/no-such-flow/cancel").status_code == 404
    assert admin.get(f"{F}/no-such-flow").status_code == 404


def test_a_downstream_job_runs_alone_unless_asked(admin: httpx.Client) -> None:
    n = etl(admin)
    alone = admin.post(f"/api/v1/jobs/{n['transform']}/runs", json={}).json()
    assert alone["flow_id"] is None
    assert wait_run(admin, alone["id"])["state"] == "succeeded"
    body = {"with_descendants": True}
    flow_root = admin.post(f"/api/v1/jobs/{n['transform']}/runs", json=body).json()
    assert flow_root["flow_id"] == flow_root["id"]
    flow = wait_flow(admin, flow_root["id"])
    assert by_job(flow) == {
        n["transform"]: "succeeded",
        n["load"]: "succeeded",
        n["cleanup"]: "skipped",
    }
    bad = admin.post(f"/api/v1/jobs/{n['transform']}/runs", json={"with_descendants": "x"})
    assert bad.status_code in (400, 422)
    assert bad.json()["error"]["field"] == "with_descendants"


def test_deleting_a_job_others_depend_on_is_refused_unless_forced(admin: httpx.Client) -> None:
    n = etl(admin)
    refused = admin.delete(f"/api/v1/jobs/{n['transform']}")
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert n["load"] in message and n["cleanup"] in message
    assert admin.get(f"/api/v1/jobs/{n['transform']}").status_code == 200
    assert (
        admin.delete(f"/api/v1/jobs/{n['transform']}", params={"force": "true"}).status_code == 204
    )


def test_flow_runs_are_listed_newest_first_with_their_counts(admin: httpx.Client) -> None:
    n = etl(admin, fail={"type": "python", "params": {"function": "api_tasks:boom"}})
    first = admin.post(f"/api/v1/jobs/{n['extract']}/runs", json={}).json()
    wait_flow(admin, first["id"])
    later = "2999-01-01T00:00:00Z"
    second = admin.post(f"/api/v1/jobs/{n['extract']}/runs", json={"run_at": later}).json()
    listed = admin.get(F, params={"limit": 500})
    assert listed.status_code == 200, listed.text
    items = {item["flow_id"]: item for item in listed.json()["items"]}
    ids = [item["flow_id"] for item in listed.json()["items"]]
    assert ids == sorted(ids, reverse=True)
    done = items[first["id"]]
    assert (done["root_job"], done["root_run"]) == (n["extract"], first["id"])
    assert done["state"] == "failed"
    assert done["counts"] == {"failed": 1, "skipped": 1, "succeeded": 2}
    assert done["started"] == first["created_at"]
    assert items[second["id"]]["state"] == "running"
    assert items[second["id"]]["counts"] == {"scheduled": 1, "waiting": 3}


def test_flow_runs_page_by_cursor(admin: httpx.Client) -> None:
    n = etl(admin)
    later = "2999-01-01T00:00:00Z"
    for _ in range(3):
        admin.post(f"/api/v1/jobs/{n['extract']}/runs", json={"run_at": later})
    seen: list[str] = []
    cursor = None
    while True:
        page = admin.get(F, params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["flow_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(set(seen), reverse=True)
    assert len(seen) >= 3
    bad = admin.get(F, params={"cursor": "nonsense"})
    assert bad.status_code in (400, 422)
    assert bad.json()["error"]["field"] == "cursor"
