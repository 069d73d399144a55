"""The worker protocol over HTTP, as a worker in another language speaks it: register,
claim (waiting for runs), heartbeat, report; fencing, retries, flows and hand-backs behave
as for the server's own workers. On SQLite and PostgreSQL (the ``api`` fixture)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.api.live import LiveAPI
from tests.api.test_jobs import make, wait_run

W = "/api/v1/workers"
_n = itertools.count()


@pytest.fixture(scope="module")
def worker_token(admin: httpx.Client) -> str:
    made = admin.post("/api/v1/tokens", json={"name": "proto-worker", "role": "worker"})
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


@pytest.fixture
def w(api: LiveAPI, worker_token: str) -> Iterator[httpx.Client]:
    with api.client(worker_token) as client:
        yield client


def register(w: httpx.Client, pool: str, **extra: Any) -> str:
    worker = f"ext-{next(_n)}"
    body = {"id": worker, "pools": [pool], "task_types": ["noop", "shell"], **extra}
    made = w.post(W, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["lease"] > 0
    return worker


def claim(w: httpx.Client, worker: str, **body: Any) -> dict[str, Any]:
    answer = w.post(f"{W}/{worker}/claim", json={"limit": 10, **body})
    assert answer.status_code == 200, answer.text
    out: dict[str, Any] = answer.json()
    return out


def claim_one(w: httpx.Client, worker: str, **body: Any) -> dict[str, Any]:
    runs = claim(w, worker, wait=10, **body)["runs"]
    assert len(runs) == 1, runs
    run: dict[str, Any] = runs[0]
    return run


def trigger(admin: httpx.Client, job: str) -> str:
    made = admin.post(f"/api/v1/jobs/{job}/runs", json={})
    assert made.status_code == 201, made.text
    run_id: str = made.json()["id"]
    return run_id


def test_a_run_taken_run_and_reported_over_http(admin: httpx.Client, w: httpx.Client) -> None:
    make(admin, "proto-ok", type="noop", pool="proto-ok", params={"result": 7})
    worker = register(w, "proto-ok", labels=["gpu", "region=eu"])
    listed = {x["id"]: x for x in admin.get(W).json()["items"]}
    assert listed[worker]["task_types"] == ["noop", "shell"]
    assert listed[worker]["state"] == "up"

    run_id = trigger(admin, "proto-ok")
    run = claim_one(w, worker)
    assert (run["id"], run["attempt"], run["type"]) == (run_id, 1, "noop")
    assert run["params"] == {"result": 7}
    assert run["lease_until"] is not None

    # Output sent with a heartbeat is readable while the run goes on.
    beat = w.post(
        f"{W}/{worker}/heartbeat",
        json={"runs": [{"run_id": run_id, "attempt": 1, "stdout": "step 1\n"}]},
    )
    assert beat.json() == {"lost": []}
    assert admin.get(f"/api/v1/runs/{run_id}/logs").json()["stdout"] == "step 1\n"
    assert admin.get(f"/api/v1/runs/{run_id}").json()["state"] == "running"

    done = {"run_id": run_id, "attempt": 1, "status": "succeeded", "result": {"rows": 3}}
    reported = w.post(f"{W}/{worker}/outcomes", json={"outcomes": [{**done, "stdout": "ok\n"}]})
    assert reported.json() == {"accepted": [True]}
    ended = wait_run(admin, run_id)
    assert (ended["state"], ended["result"]) == ("succeeded", {"rows": 3})
    assert ended["worker_id"] == worker
    assert admin.get(f"/api/v1/runs/{run_id}/logs").json()["stdout"] == "ok\n"
    # Said again, the same outcome is refused: the attempt has ended (fencing).
    assert w.post(f"{W}/{worker}/outcomes", json={"outcomes": [done]}).json() == {
        "accepted": [False]
    }


def test_a_claim_waits_for_a_run_and_returns_as_soon_as_one_is_queued(
    admin: httpx.Client, w: httpx.Client
) -> None:
    make(admin, "proto-wait", type="noop", pool="proto-wait")
    worker = register(w, "proto-wait")
    began = time.monotonic()
    assert claim(w, worker, wait=0.5)["runs"] == []
    assert time.monotonic() - began >= 0.45  # it waited

    timer = threading.Timer(0.5, trigger, (admin, "proto-wait"))
    timer.start()
    began = time.monotonic()
    runs = claim(w, worker, wait=20)["runs"]
    took = time.monotonic() - began
    timer.join()
    assert len(runs) == 1
    assert took < 10, f"the claim came back {took:.1f}s after it was sent"


def test_failures_follow_the_jobs_retry_policy(admin: httpx.Client, w: httpx.Client) -> None:
    make(admin, "proto-fail", type="noop", pool="proto-fail", retries={"max": 1, "delay": 0})
    worker = register(w, "proto-fail")
    run_id = trigger(admin, "proto-fail")
    first = claim_one(w, worker)
    failure = {
        "run_id": run_id, "attempt": first["attempt"], "status": "failed", "exit_code": 3,
        "error": {"type": "DiskFull", "message": "no space left on /data"},
    }  # fmt: skip
    # Reported in the claim that takes the next run: the retry comes back at once.
    again = claim(w, worker, wait=10, outcomes=[failure])
    assert again["accepted"] == [True]
    runs = again["runs"] or claim(w, worker, wait=10)["runs"]
    assert [(r["id"], r["attempt"]) for r in runs] == [(run_id, 2)]
    last = {**failure, "attempt": 2, "status": "timed_out", "error": None, "exit_code": None}
    assert claim(w, worker, outcomes=[last])["accepted"] == [True]
    ended = wait_run(admin, run_id)
    assert ended["state"] == "timed_out"
    assert [a["state"] for a in ended["attempts"]] == ["failed", "timed_out"]
    assert ended["attempts"][0]["error"]["message"] == "no space left on /data"
    assert ended["attempts"][0]["error"]["exit_code"] == 3


def test_a_cancelled_run_is_lost_to_its_worker_and_its_outcome_refused(
    admin: httpx.Client, w: httpx.Client
) -> None:
    make(admin, "proto-cancel", type="noop", pool="proto-cancel")
    worker = register(w, "proto-cancel")
    run_id = trigger(admin, "proto-cancel")
    run = claim_one(w, worker)
    assert admin.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
    held = {"run_id": run_id, "attempt": run["attempt"]}
    assert w.post(f"{W}/{worker}/heartbeat", json={"runs": [held]}).json() == {"lost": [run_id]}
    late = {**held, "status": "succeeded"}
    assert w.post(f"{W}/{worker}/outcomes", json={"outcomes": [late]}).json() == {
        "accepted": [False]
    }
    assert admin.get(f"/api/v1/runs/{run_id}").json()["state"] == "cancelled"


def test_a_run_handed_back_goes_to_the_next_worker_without_spending_a_try(
    admin: httpx.Client, w: httpx.Client
) -> None:
    make(admin, "proto-back", type="noop", pool="proto-back")
    leaving, staying = register(w, "proto-back"), register(w, "proto-back")
    run_id = trigger(admin, "proto-back")
    run = claim_one(w, leaving)
    back = {"run_id": run_id, "attempt": run["attempt"], "status": "handed_back"}
    assert w.post(f"{W}/{leaving}/outcomes", json={"outcomes": [back]}).json() == {
        "accepted": [True]
    }
    assert w.patch(f"{W}/{leaving}", json={"state": "down"}).json()["state"] == "down"
    again = claim_one(w, staying)
    assert (again["id"], again["attempt"]) == (run_id, 2)
    done = {"run_id": run_id, "attempt": 2, "status": "succeeded"}
    assert claim(w, staying, outcomes=[done])["accepted"] == [True]
    ended = wait_run(admin, run_id)
    assert ended["state"] == "succeeded"
    assert ended["handbacks"] == 1


def test_a_flow_moves_on_as_its_worker_reports(admin: httpx.Client, w: httpx.Client) -> None:
    make(admin, "proto-extract", type="noop", pool="proto-flow")
    make(admin, "proto-load", type="noop", pool="proto-flow", depends_on=["proto-extract"])
    worker = register(w, "proto-flow")
    trigger(admin, "proto-extract")
    first = claim_one(w, worker)
    assert first["job"] == "proto-extract"
    assert first["flow_id"] is not None
    done = {"run_id": first["id"], "attempt": first["attempt"], "status": "succeeded"}
    after = claim(w, worker, wait=10, outcomes=[done])
    runs = after["runs"] or claim(w, worker, wait=10)["runs"]
    assert [r["job"] for r in runs] == ["proto-load"]
    assert runs[0]["flow_id"] == first["flow_id"]


def test_a_worker_gets_only_runs_of_its_pools(admin: httpx.Client, w: httpx.Client) -> None:
    make(admin, "proto-mine", type="noop", pool="proto-mine")
    make(admin, "proto-theirs", type="noop", pool="proto-theirs")
    worker = register(w, "proto-mine")
    theirs = trigger(admin, "proto-theirs")
    mine = trigger(admin, "proto-mine")
    assert [r["id"] for r in claim(w, worker, wait=5)["runs"]] == [mine]
    assert admin.get(f"/api/v1/runs/{theirs}").json()["state"] == "queued"
    admin.post(f"/api/v1/runs/{theirs}/cancel")


def test_a_worker_token_reaches_only_the_worker_protocol(api: LiveAPI, w: httpx.Client) -> None:
    for method, path in [
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/workers"),
        ("POST", "/api/v1/jobs"),
        ("GET", "/api/v1/tokens"),
    ]:
        answer = w.request(method, path, json={} if method == "POST" else None)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["field"] == "role"
    login = w.post("/dashboard/login", json={"token": w.headers["Authorization"][7:]})
    assert login.status_code == 403
    assert login.json()["error"]["field"] == "token"


def _outcome(**changes: Any) -> dict[str, Any]:
    return {"run_id": "x", "attempt": 1, "status": "failed", **changes}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"id": "bad id", "task_types": ["noop"]}, "id"),
        ("", {"id": "ok-id", "task_types": []}, "task_types"),
        ("", {"id": "ok-id", "task_types": ["noop"], "cores": "many"}, "cores"),
        ("", {"id": "ok-id", "task_types": ["noop"], "labels": ["a b"]}, "labels[0]"),
        ("", {"id": "ok-id", "task_types": ["noop"], "colour": "red"}, "colour"),
        ("/{w}/claim", {"limit": 501}, "limit"),
        ("/{w}/claim", {"wait": 31}, "wait"),
        ("/{w}/claim", {"wait": "soon"}, "wait"),
        ("/{w}/claim", {"outcomes": [_outcome(status="ok")]}, "outcomes[0].status"),
        ("/{w}/claim", {"outcomes": [_outcome(attempt=0)]}, "outcomes[0].attempt"),
        ("/{w}/heartbeat", {"runs": [{"run_id": "x"}]}, "runs[0].attempt"),
        ("/{w}/outcomes", {"outcomes": []}, "outcomes"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    w: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    worker = register(w, "proto-bad")
    answer = w.post(W + path.format(w=worker), json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_an_unregistered_worker_is_told_to_register(w: httpx.Client) -> None:
    answer = w.post(f"{W}/never-registered/claim", json={"limit": 1})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["field"] == "worker_id"
    assert "register it first" in error["message"]


def test_tme_reports_a_jobs_run_started_then_complete_with_its_log(
    admin: httpx.Client, w: httpx.Client
) -> None:
    make(admin, "tme-report", type="noop", pool="tme-nobody", retries={"max": 1, "delay": 0})
    run_id = trigger(admin, "tme-report")
    started = w.put("/task/tme-report/", json={"status": "started", "log": "step 1\n"})
    assert started.status_code == 200, started.text
    assert (started.json()["id"], started.json()["state"]) == (run_id, "running")
    assert started.json()["worker_id"] == "proto-worker"  # the token's name
    assert admin.get(f"/api/v1/runs/{run_id}/logs").json()["stdout"] == "step 1\n"
    # The first try fails; the job's retry policy queues another; it completes.
    failed = w.patch("/task/tme-report/", json={"status": "fail", "details": "disk full"})
    assert failed.json()["state"] in ("retrying", "queued")  # delay 0: promoted at once
    assert failed.json()["error"]["message"] == "disk full"
    wait_state = time.monotonic() + 10
    while admin.get(f"/api/v1/runs/{run_id}").json()["state"] != "queued":
        assert time.monotonic() < wait_state
        time.sleep(0.05)
    assert w.patch("/task/tme-report/", json={"status": "started"}).json()["attempt"] == 2
    done = w.put(
        f"/task/{run_id}/", json={"status": "complete", "log": "all done\n", "details": {"n": 1}}
    )
    assert (done.json()["state"], done.json()["result"]) == ("succeeded", {"n": 1})
    assert admin.get(f"/api/v1/runs/{run_id}/logs").json()["stdout"] == "all done\n"


def test_tme_reports_are_refused_clearly_and_job_edits_stay_admin_only(
    api: LiveAPI, admin: httpx.Client, w: httpx.Client, tokens: dict[str, str]
) -> None:
    make(admin, "tme-edit", type="noop", pool="tme-nobody")
    nothing = w.patch("/task/tme-edit/", json={"status": "complete"})
    assert nothing.status_code == 404
    assert nothing.json()["error"]["field"] == "task_id"
    bad = w.patch("/task/tme-edit/", json={"status": "exploded"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "status")
    extra = w.patch("/task/tme-edit/", json={"status": "started", "colour": "red"})
    assert (extra.status_code, extra.json()["error"]["field"]) == (422, "colour")
    assert w.patch("/task/no-such-job/", json={"status": "started"}).status_code == 404
    # A definition changes what runs: a worker or an operator may not send one.
    for token in (w.headers["Authorization"][7:], tokens["operator"]):
        with api.client(token) as client:
            for method in ("PUT", "PATCH"):
                edit = client.request(method, "/task/tme-edit/", json={"type": "shell"})
                assert edit.status_code == 403, edit.text
                assert edit.json()["error"]["field"] == "role"
    assert admin.get("/api/v1/jobs/tme-edit").json()["spec"]["type"] == "noop"
    assert admin.patch("/task/tme-edit/", json={"priority": 3}).status_code == 200


def test_a_worker_that_hangs_up_on_a_waiting_claim_gets_no_run(
    api: LiveAPI, admin: httpx.Client, w: httpx.Client, worker_token: str
) -> None:
    make(admin, "proto-gone", type="noop", pool="proto-gone")
    gone, staying = register(w, "proto-gone"), register(w, "proto-gone")
    with api.client(worker_token) as impatient, pytest.raises(httpx.TimeoutException):
        impatient.post(f"{W}/{gone}/claim", json={"limit": 1, "wait": 20}, timeout=0.3)
    time.sleep(1.5)  # the server notices within a second that nobody waits any more
    run_id = trigger(admin, "proto-gone")
    run = claim_one(w, staying)
    assert (run["id"], run["attempt"]) == (run_id, 1)


def test_a_heartbeat_keeps_the_stream_it_leaves_out(admin: httpx.Client, w: httpx.Client) -> None:
    make(admin, "proto-logs", type="noop", pool="proto-logs")
    worker = register(w, "proto-logs")
    run_id = trigger(admin, "proto-logs")
    run = claim_one(w, worker)
    held = {"run_id": run_id, "attempt": run["attempt"]}
    w.post(f"{W}/{worker}/heartbeat", json={"runs": [{**held, "stdout": "o1\n", "stderr": "e1\n"}]})
    w.post(f"{W}/{worker}/heartbeat", json={"runs": [{**held, "stdout": "o1\no2\n"}]})
    logs = admin.get(f"/api/v1/runs/{run_id}/logs").json()
    assert (logs["stdout"], logs["stderr"]) == ("o1\no2\n", "e1\n")


def test_a_worker_listed_down_that_heartbeats_is_up_again(
    admin: httpx.Client, w: httpx.Client
) -> None:
    worker = register(w, "proto-back-up")
    assert w.patch(f"{W}/{worker}", json={"state": "down"}).json()["state"] == "down"
    assert w.post(f"{W}/{worker}/heartbeat", json={"runs": []}).status_code == 200
    listed = {x["id"]: x["state"] for x in admin.get(W).json()["items"]}
    assert listed[worker] == "up"


def test_a_run_needing_a_label_goes_at_once_to_the_worker_that_has_it(
    api: LiveAPI, admin: httpx.Client, w: httpx.Client, worker_token: str
) -> None:
    """Two workers wait on one pool, one with the label: the run goes to it at once, though
    the other may hear of the run first (each kind of worker has its own notices)."""
    make(admin, "proto-gpu", type="noop", pool="proto-mixed", requires=["gpu"])
    plain = register(w, "proto-mixed")
    gpu = register(w, "proto-mixed", labels=["gpu"])
    got: dict[str, list[Any]] = {}

    def wait_on(worker: str) -> None:
        with api.client(worker_token) as client:
            answer = client.post(f"{W}/{worker}/claim", json={"limit": 1, "wait": 4})
            got[worker] = answer.json()["runs"]

    for attempt in range(2):
        got.clear()
        threads = [threading.Thread(target=wait_on, args=(x,)) for x in (plain, gpu)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        queued = time.monotonic()
        run_id = trigger(admin, "proto-gpu")
        threads[1].join(10)
        took = time.monotonic() - queued
        assert [r["id"] for r in got[gpu]] == [run_id], got
        assert took < 3, f"try {attempt}: the labelled worker got the run after {took:.1f}s"
        threads[0].join(10)
        assert got[plain] == []
        done = {"run_id": run_id, "attempt": 1, "status": "succeeded"}
        assert w.post(f"{W}/{gpu}/outcomes", json={"outcomes": [done]}).json()["accepted"] == [True]


def test_a_final_failure_spends_no_retries_and_retry_after_delays_the_next(
    admin: httpx.Client, w: httpx.Client
) -> None:
    make(admin, "proto-final", type="noop", pool="proto-final", retries={"max": 3, "delay": 0})
    worker = register(w, "proto-final")
    first = trigger(admin, "proto-final")
    run = claim_one(w, worker)
    slow_down = {"run_id": first, "attempt": 1, "status": "failed", "retry_after": 30}
    assert claim(w, worker, outcomes=[slow_down])["accepted"] == [True]
    later = admin.get(f"/api/v1/runs/{first}").json()
    assert later["state"] == "retrying"
    wait = datetime.fromisoformat(later["not_before"]) - datetime.fromisoformat(later["updated_at"])
    assert 25 <= wait.total_seconds() <= 31
    admin.post(f"/api/v1/runs/{first}/cancel")

    second = trigger(admin, "proto-final")
    run = claim_one(w, worker)
    gone = {"run_id": second, "attempt": run["attempt"], "status": "failed", "final": True,
            "error": {"type": "HttpStatus", "message": "answered 404 Not Found"}}  # fmt: skip
    assert claim(w, worker, outcomes=[gone])["accepted"] == [True]
    ended = wait_run(admin, second)
    assert (ended["state"], ended["attempt"]) == ("failed", 1)
