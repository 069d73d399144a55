"""``POST /api/v1/jobs/apply`` (a batch of definitions, checked whole before any write) and
``count`` on ``POST /api/v1/jobs/{name}/runs`` (many runs in one call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.live import LiveAPI
from tests.api.test_bad_input import snapshot

J = "/api/v1/jobs"
APPLY = f"{J}/apply"


def noop(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "noop", **extra}


def test_apply_creates_updates_and_leaves_unchanged(admin: httpx.Client) -> None:
    # The child comes first in the batch: the parent is stored before it all the same.
    batch = [noop("ap-child", depends_on=["ap-root"]), noop("ap-root", priority=1)]
    first = admin.post(APPLY, json={"jobs": batch})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "items": [
            {"name": "ap-child", "action": "created"},
            {"name": "ap-root", "action": "created"},
        ]
    }
    batch[1]["priority"] = 2
    again = admin.post(APPLY, json={"jobs": batch})
    assert again.json()["items"] == [
        {"name": "ap-child", "action": "unchanged"},
        {"name": "ap-root", "action": "updated"},
    ]
    assert admin.get(f"{J}/ap-root").json()["spec"]["priority"] == 2
    (parent,) = admin.get(f"{J}/ap-child").json()["spec"]["depends_on"]
    assert parent == "ap-root" or parent["job"] == "ap-root"
    assert admin.post(APPLY, json={"jobs": []}).json() == {"items": []}


def test_apply_keeps_a_pause_unless_the_definition_sets_it(admin: httpx.Client) -> None:
    assert admin.post(APPLY, json={"jobs": [noop("ap-paused")]}).status_code == 200
    assert admin.post(f"{J}/ap-paused/pause").status_code == 200
    admin.post(APPLY, json={"jobs": [noop("ap-paused", priority=4)]})
    assert admin.get(f"{J}/ap-paused").json()["paused"] is True
    admin.post(APPLY, json={"jobs": [noop("ap-paused", priority=4, paused=False)]})
    assert admin.get(f"{J}/ap-paused").json()["paused"] is False


BAD_BATCHES: list[tuple[str, list[Any], int, str]] = [
    ("invalid cron in the second job",
     [noop("bb-1"), noop("bb-2", schedule={"cron": "61 * * * *"})], 422, "jobs[1].schedule.cron"),
    ("unknown task type", [noop("bb-3"), {"name": "bb-4", "type": "nope"}], 422, "type"),
    ("defined twice", [noop("bb-5"), noop("bb-5")], 422, "name"),
    ("unknown parent", [noop("bb-6"), noop("bb-7", depends_on=["bb-nobody"])], 422, "depends_on"),
    ("a cycle in the batch", [noop("bb-8", depends_on=["bb-9"]), noop("bb-9", depends_on=["bb-8"])],
     422, "depends_on"),
    ("an unknown key", [noop("bb-10"), noop("bb-11", colour="red")], 422, "jobs[1].colour"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "jobs", "status", "field"), BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES]
)
def test_one_bad_job_stores_nothing(
    api: LiveAPI, admin: httpx.Client, label: str, jobs: list[Any], status: int, field: str
) -> None:
    before = snapshot(api)
    response = admin.post(APPLY, json={"jobs": jobs})
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["message"]
    assert snapshot(api) == before


def test_create_only_refuses_a_taken_name_and_stores_nothing(
    api: LiveAPI, admin: httpx.Client
) -> None:
    assert admin.post(APPLY, json={"jobs": [noop("co-taken")]}).status_code == 200
    before = snapshot(api)
    response = admin.post(
        APPLY, json={"jobs": [noop("co-new"), noop("co-taken")], "create_only": True}
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["field"] == "name"
    assert snapshot(api) == before


def test_the_body_itself_is_checked(api: LiveAPI, admin: httpx.Client) -> None:
    before = snapshot(api)
    for body, field in [
        ({}, "jobs"),
        ({"jobs": "a"}, "jobs"),
        ({"jobs": [], "extra": 1}, "extra"),
        ({"jobs": [noop(f"many-{i}") for i in range(1001)]}, "jobs"),
    ]:
        response = admin.post(APPLY, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
    assert snapshot(api) == before


def test_apply_needs_the_admin_role(api: LiveAPI, admin: httpx.Client) -> None:
    made = admin.post("/api/v1/tokens", json={"name": "ap-operator", "role": "operator"})
    with api.client(made.json()["token"]) as operator:
        before = snapshot(api)
        response = operator.post(APPLY, json={"jobs": [noop("ap-denied")]})
        assert response.status_code == 403
        assert snapshot(api) == before


# -- count on the trigger ------------------------------------------------------------------


def test_trigger_with_count_makes_that_many_runs(admin: httpx.Client) -> None:
    # Runs for later: nothing runs them while the tests after this one take snapshots.
    later = {"run_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    admin.post(APPLY, json={"jobs": [noop("tc-a")]})
    made = admin.post(f"{J}/tc-a/runs", json={"count": 3, "params": {}, **later})
    assert made.status_code == 201, made.text
    items = made.json()["items"]
    assert len(items) == 3
    assert len({r["id"] for r in items}) == 3
    assert all(r["job"] == "tc-a" and r["state"] == "scheduled" for r in items)
    listed = admin.get("/api/v1/runs", params={"job": "tc-a"}).json()["items"]
    assert {r["id"] for r in items} <= {r["id"] for r in listed}
    # count 1 still answers with the list; no count answers with the run itself.
    one = admin.post(f"{J}/tc-a/runs", json={"count": 1, **later}).json()
    assert [r["job"] for r in one["items"]] == ["tc-a"]
    assert admin.post(f"{J}/tc-a/runs", json=later).json()["job"] == "tc-a"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": -2}, "count"),
        ({"count": 10001}, "count"),
        ({"count": "3"}, "count"),
        ({"count": 1.5}, "count"),
        ({"count": 2, "idempotency_key": "k"}, "idempotency_key"),
    ],
    ids=["zero", "negative", "too many", "a string", "a fraction", "with an idempotency key"],
)
def test_a_bad_count_names_the_field_and_stores_nothing(
    api: LiveAPI, admin: httpx.Client, body: dict[str, Any], field: str
) -> None:
    admin.post(APPLY, json={"jobs": [noop("tc-bad")]})
    before = snapshot(api)
    response = admin.post(f"{J}/tc-bad/runs", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert snapshot(api) == before


def test_count_needs_the_operator_role(api: LiveAPI, admin: httpx.Client) -> None:
    admin.post(APPLY, json={"jobs": [noop("tc-role")]})
    made = admin.post("/api/v1/tokens", json={"name": "tc-viewer", "role": "viewer"})
    with api.client(made.json()["token"]) as viewer:
        before = snapshot(api)
        assert viewer.post(f"{J}/tc-role/runs", json={"count": 2}).status_code == 403
        assert snapshot(api) == before
