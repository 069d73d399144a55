"""``POST /api/v1/admin/prune`` on a live node (SQLite, then PostgreSQL): a dry run counts
what a prune then deletes, per kind and per job; a real prune is in the audit log; only
admins may; bad input is refused naming the field, and nothing goes."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.api.live import LiveAPI
from tests.api.test_jobs import wait_run
from tss.client import Client

J = "/api/v1/jobs"
P = "/api/v1/admin/prune"


def _runs(admin: httpx.Client, job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.get("/api/v1/runs", params={"job": job}).json()["items"]
    return found


def test_a_dry_run_counts_what_the_prune_then_deletes(api: LiveAPI, admin: httpx.Client) -> None:
    body = {"name": "pr-a", "type": "noop", "retention": {"max_age": "1s", "keep_last": 1}}
    assert admin.post(J, json=body).status_code == 201
    assert admin.post(J, json={"name": "pr-b", "type": "noop"}).status_code == 201
    for job in ("pr-a", "pr-a", "pr-a", "pr-b"):
        wait_run(admin, admin.post(f"{J}/{job}/runs", json={}).json()["id"])
    time.sleep(1.2)

    dry = admin.post(P, json={"dry_run": True, "job": "pr-a"})
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    assert dry.json()["counts"]["runs"] == 2 and dry.json()["runs_by_job"] == {"pr-a": 2}
    assert len(_runs(admin, "pr-a")) == 3
    everything = admin.post(P, json={"dry_run": True}).json()
    assert everything["runs_by_job"] == {"pr-a": 2}
    assert set(everything["counts"]) == {"runs", "alerts", "silences", "ledger", "audit"}

    done = admin.post(P, json={"job": "pr-a"})
    assert done.status_code == 200, done.text
    assert done.json()["counts"]["runs"] == 2 and done.json()["dry_run"] is False
    assert len(_runs(admin, "pr-a")) == 1 and len(_runs(admin, "pr-b")) == 1

    async def entries() -> Any:
        return await api.tss.store.list_audit(action="db.prune", limit=10)

    [entry] = api.call(entries()).items
    assert (entry.actor, entry.target) == ("token:env-admin", "pr-a")
    assert entry.details["counts"]["runs"] == 2
    # the client says the same
    with Client(api.url, admin.headers["Authorization"].split()[-1]) as client:
        assert client.prune(dry_run=True, job="pr-a").counts["runs"] == 0


def test_bad_input_is_refused_naming_the_field(admin: httpx.Client) -> None:
    for body, field in (
        ({"dry_run": "yes"}, "dry_run"),
        ({"job": ""}, "job"),
        ({"dry_run": True, "extra": 1}, "extra"),
    ):
        answer = admin.post(P, json=body)
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    missing = admin.post(P, json={"job": "no-such-job"})
    assert missing.status_code == 404 and "no-such-job" in missing.text


def test_only_admins_prune(api: LiveAPI, tokens: dict[str, str]) -> None:
    for role in ("viewer", "operator"):
        with api.client(tokens[role]) as client:
            assert client.post(P, json={"dry_run": True}).status_code == 403
