"""``/api/v1/jobs`` over HTTP against a live node on SQLite."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.live import LiveAPI

J = "/api/v1/jobs"


def job(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "noop", **extra}


def make(admin: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    response = admin.post(J, json=job(name, **extra))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_run(client: httpx.Client, run_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
        if run["state"] in {"succeeded", "failed", "cancelled", "timed_out", "skipped"}:
            return run
        assert time.monotonic() < deadline, f"run still {run['state']}"
        time.sleep(0.05)


def test_create_get_and_duplicate(admin: httpx.Client) -> None:
    created = make(admin, "crud-a", schedule={"cron": "0 3 * * *"}, tags=["x"])
    assert created["name"] == "crud-a"
    assert created["version"] == 1
    assert created["next_fire_at"] is not None
    assert created["schedule"]
    got = admin.get(f"{J}/crud-a")
    assert got.status_code == 200
    assert got.headers["ETag"] == '"1"'
    assert got.json()["spec"]["tags"] == ["x"]
    again = admin.post(J, json=job("crud-a"))
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "conflict",
        "message": again.json()["error"]["message"],
        "field": "name",
    }
    assert admin.get(f"{J}/no-such-job").json()["error"]["code"] == "not_found"


def test_replace_patch_and_stale_version(admin: httpx.Client) -> None:
    make(admin, "edit-a", priority=1, description="first")
    put = admin.put(f"{J}/edit-a", json={"type": "noop", "priority": 5})
    assert put.status_code == 200, put.text
    assert put.json()["spec"]["priority"] == 5
    assert put.json()["spec"]["description"] == ""  # a replace resets what it leaves out
    assert put.json()["version"] == 2
    patched = admin.patch(f"{J}/edit-a", json={"description": "patched", "tags": ["p"]})
    assert patched.status_code == 200
    assert patched.json()["spec"]["priority"] == 5
    assert patched.json()["spec"]["description"] == "patched"
    assert patched.json()["version"] == 3
    reset = admin.patch(f"{J}/edit-a", json={"tags": None})
    assert reset.json()["spec"]["tags"] == []
    stale = admin.patch(f"{J}/edit-a", json={"priority": 7}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert admin.get(f"{J}/edit-a").json()["spec"]["priority"] == 5
    fresh = admin.patch(f"{J}/edit-a", json={"priority": 7}, headers={"If-Match": '"4"'})
    assert fresh.status_code == 200, fresh.text
    renamed = admin.put(f"{J}/edit-a", json={"name": "other", "type": "noop"})
    assert renamed.status_code == 422
    assert renamed.json()["error"]["field"] == "name"
    assert admin.put(f"{J}/missing-job", json={"type": "noop"}).status_code == 404


def test_delete_pause_resume_next(admin: httpx.Client) -> None:
    make(admin, "life-a", schedule={"every": "1h"})
    paused = admin.post(f"{J}/life-a/pause")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert admin.post(f"{J}/life-a/resume").json()["paused"] is False
    nxt = admin.get(f"{J}/life-a/next", params={"n": 3}).json()
    times = [datetime.fromisoformat(t) for t in nxt["times"]]
    assert len(times) == 3
    assert times[1] - times[0] == timedelta(hours=1)
    assert admin.delete(f"{J}/life-a").status_code == 204
    assert admin.get(f"{J}/life-a").status_code == 404
    assert admin.delete(f"{J}/life-a").status_code == 404


def test_delete_refused_while_depended_on(admin: httpx.Client) -> None:
    make(admin, "dep-parent")
    make(admin, "dep-child", depends_on=["dep-parent"])
    refused = admin.delete(f"{J}/dep-parent")
    assert refused.status_code == 409  # a conflict with the jobs that need it
    assert "dep-child" in refused.json()["error"]["message"]
    assert admin.delete(f"{J}/dep-parent", params={"force": "true"}).status_code == 204


def test_delete_with_history_takes_its_runs_and_only_an_admin_may(
    api: LiveAPI, admin: httpx.Client, tokens: dict[str, str]
) -> None:
    make(admin, "hist-a")
    make(admin, "hist-b")
    ended = wait_run(admin, admin.post(f"{J}/hist-a/runs", json={}).json()["id"])
    later = datetime.now(UTC) + timedelta(hours=1)
    waiting = admin.post(f"{J}/hist-a/runs", json={"run_at": later.isoformat()}).json()
    other = wait_run(admin, admin.post(f"{J}/hist-b/runs", json={}).json()["id"])
    for role in ("viewer", "operator"):
        with api.client(tokens[role]) as client:
            refused = client.delete(f"{J}/hist-a", params={"history": "true"})
            assert refused.status_code == 403, refused.text
    assert admin.get(f"/api/v1/runs/{ended['id']}").status_code == 200
    assert admin.delete(f"{J}/hist-a", params={"history": "true"}).status_code == 204
    for run_id in (ended["id"], waiting["id"]):
        assert admin.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert admin.get(f"/api/v1/runs/{other['id']}").json()["state"] == "succeeded"
    # without history, the runs stay
    assert admin.delete(f"{J}/hist-b").status_code == 204
    assert admin.get(f"/api/v1/runs/{other['id']}").status_code == 200
    bad = admin.delete(f"{J}/hist-b", params={"history": "maybe"})
    assert bad.status_code == 422 and "history" in bad.text, bad.text


def test_list_filters_sort_and_both_paginations(admin: httpx.Client) -> None:
    for i in range(7):
        make(admin, f"page-{i}", tags=["even" if i % 2 == 0 else "odd"], priority=i % 3)
    admin.post(f"{J}/page-3/pause")
    everything = admin.get(J, params={"prefix": "page-", "limit": 500}).json()
    names = [j["name"] for j in everything["items"]]
    assert names == [f"page-{i}" for i in range(7)]
    assert everything["total"] == 7
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"prefix": "page-", "limit": 3, "sort": "-name"}
        if cursor:
            params["cursor"] = cursor
        page = admin.get(J, params=params).json()
        seen += [j["name"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names[::-1]
    by_number = [
        [
            j["name"]
            for j in admin.get(J, params={"prefix": "page-", "limit": 3, "page": p}).json()["items"]
        ]
        for p in (1, 2, 3)
    ]
    assert by_number == [names[0:3], names[3:6], names[6:7]]
    evens = admin.get(J, params={"prefix": "page-", "tag": "even"}).json()["items"]
    assert [j["name"] for j in evens] == ["page-0", "page-2", "page-4", "page-6"]
    paused = admin.get(J, params={"prefix": "page-", "paused": "true"}).json()["items"]
    assert [j["name"] for j in paused] == ["page-3"]
    bad_sort = admin.get(J, params={"sort": "colour"})
    assert bad_sort.status_code == 422
    assert bad_sort.json()["error"]["field"] == "sort"
    bad_cursor = admin.get(J, params={"cursor": "%%%garbage"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"]["field"] == "cursor"


def test_trigger_params_idempotency_and_last_state(admin: httpx.Client) -> None:
    make(
        admin,
        "trig-a",
        type="python",
        params={"function": "api_tasks:greet", "kwargs": {"name": "job", "times": 1}},
        overridable=["kwargs.name"],
    )
    made = admin.post(f"{J}/trig-a/runs", json={"params": {"kwargs": {"name": "run"}}})
    assert made.status_code == 201, made.text
    run = wait_run(admin, made.json()["id"])
    assert run["state"] == "succeeded"
    assert run["result"] == "greeted run"
    assert run["params"]["kwargs"] == {"name": "run", "times": 1}  # merged over the job's

    first = admin.post(f"{J}/trig-a/runs", json={"idempotency_key": "k-1"})
    repeat = admin.post(f"{J}/trig-a/runs", json={"idempotency_key": "k-1"})
    assert (first.status_code, repeat.status_code) == (201, 200)
    assert first.json()["id"] == repeat.json()["id"]
    wait_run(admin, first.json()["id"])

    listed = admin.get(J, params={"prefix": "trig-a", "last_state": "succeeded"}).json()
    assert [j["name"] for j in listed["items"]] == ["trig-a"]
    assert listed["items"][0]["last_run"]["id"] == first.json()["id"]
    none = admin.get(J, params={"prefix": "trig-a", "last_state": "failed"}).json()
    assert none["items"] == []


def test_trigger_later_is_scheduled(admin: httpx.Client) -> None:
    make(admin, "later-a")
    at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    made = admin.post(f"{J}/later-a/runs", json={"run_at": at, "priority": 9})
    assert made.status_code == 201
    body = made.json()
    assert body["state"] == "scheduled"
    assert body["priority"] == 9
    assert datetime.fromisoformat(body["not_before"]) == datetime.fromisoformat(at)
    assert admin.post(f"{J}/no-such/runs", json={}).status_code == 404


def test_seed_routes_share_the_handlers(api: LiveAPI, admin: httpx.Client) -> None:
    created = admin.post("/tasks/create", json=job("seed-a", description="from the seed"))
    assert created.status_code == 201
    assert admin.get("/task/seed-a").json()["spec"]["description"] == "from the seed"
    listed = admin.get("/tasks/", params={"prefix": "seed-"}).json()
    assert [j["name"] for j in listed["items"]] == ["seed-a"]
    put = admin.put("/task/seed-a", json={"type": "noop", "priority": 4})
    assert put.json()["spec"]["priority"] == 4
    put_slash = admin.put("/task/seed-a/", json={"type": "noop", "priority": 6})
    assert put_slash.json()["spec"]["priority"] == 6
    patched = admin.patch("/task/seed-a/", json={"description": "patched"})
    assert patched.json()["spec"]["description"] == "patched"
    deleted = admin.delete("/task/seed-a/")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert admin.get("/task/seed-a").status_code == 404
