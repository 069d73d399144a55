"""Figures the Overview shows must mean what they say: fire lateness is a scheduled fire's
first start minus its time, whatever its retries did afterwards."""

from __future__ import annotations

import time
from datetime import datetime

import httpx

from tests.api.live import LiveAPI
from tests.api.test_jobs import make
from tss.core.ids import new_id
from tss.core.models import ErrorInfo, NewRun, Outcome, RetryPolicy, RunPolicy
from tss.core.states import RunState

#: a pool the node's worker does not serve, so the test alone claims the run
NOBODY = "figures-nobody"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_retried_fire_is_late_by_its_first_start_not_its_back_off(
    api: LiveAPI, admin: httpx.Client
) -> None:
    make(admin, "late-retried", pool=NOBODY, retries={"max": 1, "delay": 1})
    store = api.tss.store
    policy = RunPolicy(
        type="noop", timeout=None, isolation="auto", retries=RetryPolicy(max=1, delay=1)
    )
    fire = NewRun(
        id=new_id(), job="late-retried", state=RunState.QUEUED, trigger="schedule", params={},
        priority=0, pool=NOBODY, policy=policy, scheduled_for=api.call(store.now()),
    )  # fmt: skip
    api.call(store.create_runs([fire], actor="test"))
    assert api.call(store.claim_runs([fire.id], worker_id="figures-w", lease=60))
    failed = Outcome(
        fire.id, 1, RunState.RETRYING, error=ErrorInfo("RuntimeError", "first try fails"),
        attempt_state=RunState.FAILED, retry_delay=1.0,
    )  # fmt: skip
    assert api.call(store.finish_runs([failed], actor="test")) == [True]
    # The node's scheduler queues the retry (maybe announced ahead of its not_before); a
    # worker starts it once its back-off has passed, as the test does here.
    deadline = time.monotonic() + 20
    while True:
        retry = api.call(store.get_run(fire.id))
        if retry.state is RunState.QUEUED and retry.not_before <= api.call(store.now()):
            break
        assert time.monotonic() < deadline, f"the retry is still {retry.state}"
        time.sleep(0.05)
    assert api.call(store.claim_runs([fire.id], worker_id="figures-w", lease=60))
    done = Outcome(fire.id, 2, RunState.SUCCEEDED)
    assert api.call(store.finish_runs([done], actor="test")) == [True]

    run = admin.get(f"/api/v1/runs/{fire.id}").json()
    first, second = (_when(a["started_at"]) for a in run["attempts"])
    scheduled = _when(run["scheduled_for"])
    assert (second - scheduled).total_seconds() >= 1.0  # what the old figure counted
    body = admin.get("/api/v1/stats/lateness", params={"window": 600}).json()
    points = [p for p in body["points"] if p["job"] == "late-retried"]
    assert [p["late"] for p in points] == [round((first - scheduled).total_seconds(), 4)]
    assert body["max"] is not None and body["max"] < 1.0
