"""Runs, logs, events (and their live stream), workers, stats, health and metrics over HTTP."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.api.live import LiveAPI
from tests.api.test_jobs import make, wait_run

R = "/api/v1/runs"


def python_job(admin: httpx.Client, job_name: str, function: str, **kwargs: Any) -> None:
    make(admin, job_name, type="python", params={"function": function, "kwargs": kwargs})


def test_run_with_attempts_logs_and_retry(admin: httpx.Client) -> None:
    python_job(admin, "runs-greet", "api_tasks:greet", name="logs", times=3)
    run_id = admin.post("/api/v1/jobs/runs-greet/runs", json={}).json()["id"]
    run = wait_run(admin, run_id)
    assert run["state"] == "succeeded"
    assert run["policy"]["type"] == "python"
    assert [a["number"] for a in run["attempts"]] == [1]
    assert run["attempts"][0]["state"] == "succeeded"

    logs = admin.get(f"{R}/{run_id}/logs").json()
    assert logs["stdout"] == "hello logs 0\nhello logs 1\nhello logs 2\n"
    assert logs["done"] is True
    tail = admin.get(f"{R}/{run_id}/logs", params={"stdout_offset": 13}).json()
    assert tail["stdout"] == "hello logs 1\nhello logs 2\n"
    assert tail["stdout_offset"] == len(logs["stdout"])

    again = admin.post(f"{R}/{run_id}/retry")
    assert again.status_code == 201
    assert again.json()["retry_of"] == run_id
    assert wait_run(admin, again.json()["id"])["state"] == "succeeded"
    assert admin.post(f"{R}/{run_id}/cancel").status_code == 409


def test_failure_reason_is_shown(admin: httpx.Client) -> None:
    python_job(admin, "runs-boom", "api_tasks:boom")
    run = wait_run(admin, admin.post("/api/v1/jobs/runs-boom/runs", json={}).json()["id"])
    assert run["state"] == "failed"
    assert run["error"]["type"] == "RuntimeError"
    assert run["error"]["message"] == "boom on purpose"
    assert "Traceback" in run["attempts"][0]["error"]["traceback"]


def test_cancel_a_running_run(admin: httpx.Client) -> None:
    python_job(admin, "runs-slow", "api_tasks:slow", seconds=60)
    admin.patch("/api/v1/jobs/runs-slow", json={"isolation": "process"})
    run_id = admin.post("/api/v1/jobs/runs-slow/runs", json={}).json()["id"]
    deadline = time.monotonic() + 20
    while admin.get(f"{R}/{run_id}").json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    live = admin.get(f"{R}/{run_id}/logs").json()
    assert live["done"] is False
    cancelled = admin.post(f"{R}/{run_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert admin.post(f"{R}/{run_id}/retry").status_code == 201
    assert admin.post(f"{R}/{run_id}/cancel").status_code == 409


def test_list_runs_filters(admin: httpx.Client) -> None:
    make(admin, "runs-list")
    ids = [admin.post("/api/v1/jobs/runs-list/runs", json={}).json()["id"] for _ in range(5)]
    for run_id in ids:
        wait_run(admin, run_id)
    listed = admin.get(R, params={"job": "runs-list", "limit": 2}).json()
    assert [r["id"] for r in listed["items"]] == ids[::-1][:2]
    second = admin.get(R, params={"job": "runs-list", "limit": 2, "cursor": listed["next_cursor"]})
    assert [r["id"] for r in second.json()["items"]] == ids[::-1][2:4]
    paged = admin.get(R, params={"job": "runs-list", "limit": 2, "page": 3}).json()
    assert [r["id"] for r in paged["items"]] == [ids[0]]
    failed = admin.get(R, params={"job": "runs-list", "state": ["failed", "cancelled"]}).json()
    assert failed["items"] == []
    future = admin.get(R, params={"job": "runs-list", "since": datetime.now(UTC).isoformat()})
    assert future.json()["items"] == []
    naive = admin.get(R, params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert naive.json()["error"]["field"] == "since"


def test_events_page_and_live_stream(api: LiveAPI, admin: httpx.Client) -> None:
    make(admin, "runs-events")
    received: list[dict[str, Any]] = []
    connected = threading.Event()

    def listen() -> None:
        with api.client() as client, client.stream("GET", "/api/v1/events/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    event = orjson.loads(line[6:])
                    if event["job"] == "runs-events":
                        received.append(event)
                        if event["target"] == "succeeded":
                            return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(10)
    run_id = admin.post("/api/v1/jobs/runs-events/runs", json={}).json()["id"]
    listener.join(20)
    assert [(e["source"], e["target"]) for e in received] == [
        (None, "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]
    assert {e["run_id"] for e in received} == {run_id}

    page = admin.get("/api/v1/events", params={"run_id": run_id}).json()
    assert [e["target"] for e in page["items"]] == ["queued", "running", "succeeded"]
    after = admin.get("/api/v1/events", params={"run_id": run_id, "after": page["items"][0]["id"]})
    assert [e["target"] for e in after.json()["items"]] == ["running", "succeeded"]
    assert page["next_after"] == page["items"][-1]["id"]


def test_stream_resumes_from_last_event_id(api: LiveAPI, admin: httpx.Client) -> None:
    make(admin, "runs-resume")
    run_id = admin.post("/api/v1/jobs/runs-resume/runs", json={}).json()["id"]
    wait_run(admin, run_id)
    first = admin.get("/api/v1/events", params={"run_id": run_id}).json()["items"][0]["id"]
    with (
        api.client() as client,
        client.stream(
            "GET", "/api/v1/events/stream", headers={"Last-Event-ID": str(first)}
        ) as stream,
    ):
        for line in stream.iter_lines():
            if line.startswith("id: "):
                assert int(line[4:]) == first + 1
                break


def test_workers_and_worker_status_route(admin: httpx.Client) -> None:
    workers = admin.get("/api/v1/workers").json()["items"]
    assert any(w["state"] == "up" and w["concurrency"] == 16 for w in workers)
    reported = admin.post(
        "/v1/queue",
        json={"worker_id": "outside-1", "hostname": "box", "pools": ["gpu"], "concurrency": 4,
              "running": 1},
    )  # fmt: skip
    assert reported.status_code == 200, reported.text
    assert reported.json()["load"] == 0.25
    assert reported.json()["id"] == "ext:outside-1"  # reported workers have a namespace
    listed = {w["id"]: w for w in admin.get("/api/v1/workers").json()["items"]}
    assert listed["ext:outside-1"]["pools"] == ["gpu"]
    assert listed["ext:outside-1"]["state"] == "up"
    assert listed["ext:outside-1"]["last_heartbeat"] is not None
    down = admin.post("/v1/queue", json={"worker_id": "outside-1", "state": "down"})
    assert down.json()["state"] == "down"
    only_down = admin.get("/api/v1/workers", params={"state": "down"}).json()["items"]
    assert [w["id"] for w in only_down] == ["ext:outside-1"]


def test_stats_counts_and_throughput(admin: httpx.Client) -> None:
    make(admin, "runs-stats")
    for _ in range(3):
        wait_run(admin, admin.post("/api/v1/jobs/runs-stats/runs", json={}).json()["id"])
    stats = admin.get("/api/v1/stats", params={"window": 600}).json()
    assert stats["counts"]["succeeded"] >= 3
    assert stats["window"] == 600
    assert stats["bucket"] == 60
    assert sum(p["counts"].get("succeeded", 0) for p in stats["throughput"]) >= 3
    assert admin.get("/api/v1/stats", params={"window": 1}).status_code == 422


def test_health_ready_and_metrics(api: LiveAPI, admin: httpx.Client) -> None:
    with api.client(None) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/readyz").json() == {"status": "ready"}
        assert anonymous.get("/metrics").status_code == 401
    make(admin, "runs-metrics")
    wait_run(admin, admin.post("/api/v1/jobs/runs-metrics/runs", json={}).json()["id"])
    text = admin.get("/metrics").text
    assert 'tss_runs_ended_total{job="runs-metrics",state="succeeded"} 1.0' in text
    assert 'tss_run_duration_seconds_count{pool="default"}' in text
    assert "tss_queue_depth " in text
    assert 'tss_workers{state="up"}' in text
    assert "tss_fire_lateness_seconds_bucket" in text


def test_an_open_stream_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    node = LiveAPI(tmp_path).start()
    opened = threading.Event()
    ended: list[str] = []

    def listen() -> None:
        try:
            with node.client() as client, client.stream("GET", "/api/v1/events/stream") as s:
                for line in s.iter_lines():
                    if line.startswith(": connected"):
                        opened.set()
            ended.append("by the server")
        except httpx.HTTPError as exc:
            ended.append(f"cut off: {exc!r}")

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(10)
    node.stop()
    listener.join(30)
    # The stream ends itself when shutdown begins. Left open, uvicorn would wait its 5 s
    # grace and then cut it mid-body, which the client sees as an error.
    assert ended == ["by the server"]


def test_workers_and_tokens_page_like_every_list(admin: httpx.Client) -> None:
    for n in range(3):
        admin.post("/v1/queue", json={"worker_id": f"page-w{n}"})
        admin.post("/api/v1/tokens", json={"name": f"page-t{n}", "role": "viewer"})
    for path in ("/api/v1/workers", "/api/v1/tokens"):
        everything = admin.get(path, params={"limit": 500}).json()
        ids = [item["id"] for item in everything["items"]]
        assert len(ids) == everything["total"] >= 3
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            body = admin.get(path, params=params).json()
            seen += [item["id"] for item in body["items"]]
            if (cursor := body["next_cursor"]) is None:
                break
        assert seen == ids
        second = admin.get(path, params={"limit": 2, "page": 2}).json()
        assert [item["id"] for item in second["items"]] == ids[2:4]
