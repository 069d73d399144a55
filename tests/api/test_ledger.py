"""The fire ledger, backfill and upcoming routes as a client sees them: what they answer,
and bad input refused with the field named and nothing stored."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI
from tss import AsyncClient, Client, Conflict, NotFound, ValidationError


@pytest.fixture(scope="module")
def admin(node: LiveAPI) -> httpx.Client:
    with node.client(ADMIN) as client:
        yield client


def make(admin: httpx.Client, name: str, schedule: Any = "0 3 * * *") -> None:
    body: dict[str, Any] = {"name": name, "type": "noop", "pool": "nobody"}
    if schedule is not None:
        body["schedule"] = schedule
    made = admin.post("/api/v1/jobs", json=body)
    assert made.status_code == 201, made.text


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def field_of(response: httpx.Response) -> str | None:
    field: str | None = response.json()["error"]["field"]
    return field


def test_backfill_dry_run_then_real_then_again(admin: httpx.Client) -> None:
    make(admin, "nightly")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    body = {"from": iso(day - timedelta(days=3)), "to": iso(day), "dry_run": True}
    dry = admin.post("/api/v1/jobs/nightly/backfill", json=body)
    assert dry.status_code == 200, dry.text
    wanted = [iso(day - timedelta(days=n) + timedelta(hours=3)) for n in (3, 2, 1)]
    assert [f.replace("+00:00", "Z") for f in dry.json()["fires"]] == wanted
    assert dry.json()["created"] == 0
    runs = admin.get("/api/v1/runs", params={"job": "nightly"}).json()["items"]
    assert runs == []  # a dry run stores nothing
    real = admin.post("/api/v1/jobs/nightly/backfill", json={**body, "dry_run": False})
    assert real.status_code == 200, real.text
    assert real.json()["created"] == 3
    actor = real.json()["backfill"]["actor"]
    assert actor.startswith("token:")
    made = admin.get("/api/v1/runs", params={"job": "nightly"}).json()["items"]
    assert sorted(r["scheduled_for"].replace("+00:00", "Z") for r in made) == wanted
    again = admin.post("/api/v1/jobs/nightly/backfill", json={**body, "dry_run": False})
    assert again.json()["count"] == 0 and again.json()["created"] == 0
    ledger = admin.get(
        "/api/v1/jobs/nightly/fires",
        params={"since": iso(day - timedelta(days=3)), "until": iso(day + timedelta(days=2))},
    ).json()
    statuses = [f["status"] for f in ledger["fires"]]
    assert statuses[:3] == ["backfilled"] * 3
    assert ledger["fires"][0]["words"].startswith(f"backfilled by {actor} at ")
    assert "upcoming" in statuses
    assert ledger["timezone"] == "UTC" and ledger["schedule"] == "every day at 03:00 (UTC)"


def test_upcoming_counts_load_per_minute(admin: httpx.Client) -> None:
    make(admin, "every-minute", "* * * * *")
    found = admin.get("/api/v1/upcoming", params={"hours": 1, "limit": 5})
    assert found.status_code == 200, found.text
    data = found.json()
    assert len(data["fires"]) == 5 and data["truncated"]
    assert data["total"] >= 59
    assert max(p["count"] for p in data["peaks"]) >= 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_ledger_queries(admin: httpx.Client, params: dict[str, Any], field: str) -> None:
    make(admin, f"q-{abs(hash(field + str(params))) % 10**8}")
    name = f"q-{abs(hash(field + str(params))) % 10**8}"
    got = admin.get(f"/api/v1/jobs/{name}/fires", params=params)
    assert got.status_code in (400, 422), got.text
    assert field_of(got) == field


def test_ledger_of_unknown_or_unscheduled_job(admin: httpx.Client) -> None:
    assert admin.get("/api/v1/jobs/nobody-here/fires").status_code == 404
    make(admin, "by-hand", None)
    got = admin.get("/api/v1/jobs/by-hand/fires")
    assert got.status_code == 200 and got.json()["fires"] == []
    assert got.json()["schedule"] == "no schedule"
    body = {"from": "2026-05-01T00:00:00Z", "to": "2026-05-02T00:00:00Z"}
    refused = admin.post("/api/v1/jobs/by-hand/backfill", json=body)
    assert refused.status_code == 422 and field_of(refused) == "name"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": "2026-05-03T00:00:00Z"}, "from"),
        ({"to": "2999-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "schedule": "* * * * * *"}, "to"),
        ({"max_active": 0}, "max_active"),
        ({"only_missed": "yes"}, "only_missed"),
        ({"surprise": 1}, "surprise"),
        ({"to": "2026-05-02T00:00:00"}, "to"),
    ],
)
def test_bad_backfills_store_nothing(
    admin: httpx.Client, change: dict[str, Any], field: str
) -> None:
    name = f"b-{abs(hash(str(change))) % 10**8}"
    make(admin, name, change.pop("schedule", "*/5 * * * *"))
    body = {"from": "2026-05-01T00:00:00Z", "to": "2026-05-02T00:00:00Z", **change}
    got = admin.post(f"/api/v1/jobs/{name}/backfill", json=body)
    assert got.status_code in (400, 422), got.text
    assert field_of(got) == field
    # (the live scheduler fires the job meanwhile: nothing in the window is what counts)
    runs = admin.get("/api/v1/runs", params={"job": name}).json()["items"]
    assert not [r for r in runs if r["scheduled_for"].startswith(("2026-05", "2026-01"))]


def test_upcoming_bad_hours(admin: httpx.Client) -> None:
    for hours in (0, 169, "soon"):
        got = admin.get("/api/v1/upcoming", params={"hours": hours})
        assert got.status_code in (400, 422) and field_of(got) == "hours"


def test_the_clients(node: LiveAPI) -> None:
    """`tss.Client` and `tss.AsyncClient`: the ledger, a backfill and upcoming, typed, and a
    refused backfill raised as a ValidationError naming the field."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with Client(node.url, ADMIN) as tss:
        tss.create_job({"name": "cl-ledger", "type": "noop", "pool": "nobody",
                        "schedule": "0 4 * * *"})  # fmt: skip
        dry = tss.backfill_job("cl-ledger", **{"from": start, "to": start + timedelta(days=2)},
                               dry_run=True)  # fmt: skip
        assert dry.fires == [start + timedelta(hours=4), start + timedelta(days=1, hours=4)]
        with pytest.raises(ValidationError) as refused:
            tss.backfill_job("cl-ledger", **{"from": start, "to": start}, dry_run=True)
        assert refused.value.field == "from"
        page = tss.job_fires("cl-ledger", limit=5)
        assert page.schedule == "every day at 04:00 (UTC)" and page.timezone == "UTC"

    async def body() -> None:
        async with AsyncClient(node.url, ADMIN) as tss:
            made = await tss.backfill_job(
                "cl-ledger", **{"from": start, "to": start + timedelta(days=1)}
            )
            assert made.created == 1 and made.backfill is not None
            page = await tss.job_fires("cl-ledger", since=start, until=start + timedelta(days=1))
            assert [f.status for f in page.fires] == ["backfilled"]
            found = await tss.upcoming(hours=48, limit=10)
            assert len(found.fires) == 10 and found.total > 10 and found.truncated

    asyncio.run(body())


def token_of(admin: httpx.Client, role: str) -> str:
    made = admin.post("/api/v1/tokens", json={"name": f"bf-{role}-{next(_n)}", "role": role})
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


_n = itertools.count()


def test_list_and_stop_a_backfill_by_role(node: LiveAPI, admin: httpx.Client) -> None:
    """A viewer lists a job's backfills and may not stop one; an operator stops an active
    one, once: again is a 409, an id not the job's a 404, both naming ``backfill``."""
    make(admin, "drip")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    body = {"from": iso(day - timedelta(days=4)), "to": iso(day), "max_active": 1}
    made = admin.post("/api/v1/jobs/drip/backfill", json=body)
    assert made.status_code == 200, made.text
    backfill_id = made.json()["backfill"]["id"]
    with node.client(token_of(admin, "viewer")) as viewer:
        listed = viewer.get("/api/v1/jobs/drip/backfills")
        assert listed.status_code == 200, listed.text
        [record] = listed.json()["items"]
        assert listed.json()["job"] == "drip"
        assert (record["id"], record["state"], record["made"], record["count"]) == (
            backfill_id, "active", 1, 4,
        )  # fmt: skip
        assert record["max_active"] == 1 and record["actor"].startswith("token:")
        refused = viewer.post(f"/api/v1/jobs/drip/backfills/{backfill_id}/stop")
        assert refused.status_code == 403, refused.text
    with node.client(token_of(admin, "operator")) as operator:
        unknown = operator.post(f"/api/v1/jobs/drip/backfills/{'0' * 32}/stop")
        assert unknown.status_code == 404 and field_of(unknown) == "backfill"
        odd = operator.post("/api/v1/jobs/drip/backfills/%00%3Cb%3E/stop")
        assert odd.status_code == 404 and field_of(odd) == "backfill"
        make(admin, "drip-other")
        elsewhere = operator.post(f"/api/v1/jobs/drip-other/backfills/{backfill_id}/stop")
        assert elsewhere.status_code == 404 and field_of(elsewhere) == "backfill"
        stopped = operator.post(f"/api/v1/jobs/drip/backfills/{backfill_id}/stop")
        assert stopped.status_code == 200, stopped.text
        assert (stopped.json()["state"], stopped.json()["made"]) == ("stopped", 1)
        again = operator.post(f"/api/v1/jobs/drip/backfills/{backfill_id}/stop")
        assert again.status_code == 409 and field_of(again) == "backfill"
        assert "stopped already" in again.json()["error"]["message"]
    listed = admin.get("/api/v1/jobs/drip/backfills").json()["items"]
    assert [(b["id"], b["state"]) for b in listed] == [(backfill_id, "stopped")]
    runs = admin.get("/api/v1/runs", params={"job": "drip"}).json()["items"]
    assert len(runs) == 1  # the run it made stays
    [entry] = admin.get("/api/v1/audit", params={"action": "job.backfill.stop"}).json()["items"]
    assert entry["target"] == "drip" and entry["details"]["backfill"] == backfill_id


def test_backfills_of_unknown_job_and_bad_limit(admin: httpx.Client) -> None:
    missing = admin.get("/api/v1/jobs/nobody-here/backfills")
    assert missing.status_code == 404 and field_of(missing) == "name"
    make(admin, "no-backfills")
    assert admin.get("/api/v1/jobs/no-backfills/backfills").json()["items"] == []
    for limit in (0, 1001, "many"):
        got = admin.get("/api/v1/jobs/no-backfills/backfills", params={"limit": limit})
        assert got.status_code in (400, 422) and field_of(got) == "limit", got.text
    gone = admin.post("/api/v1/jobs/nobody-here/backfills/abc/stop")
    assert gone.status_code == 404 and field_of(gone) == "backfill"


def test_the_clients_list_and_stop_backfills(node: LiveAPI) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    window = {"from": start, "to": start + timedelta(days=3)}
    with Client(node.url, ADMIN) as tss:
        tss.create_job({"name": "cl-drip", "type": "noop", "pool": "nobody",
                        "schedule": "0 4 * * *"})  # fmt: skip
        made = tss.backfill_job("cl-drip", **window, max_active=1)
        assert made.backfill is not None
        [listed] = tss.backfills("cl-drip", limit=5)
        assert listed.id == made.backfill.id and listed.state == "active"
        stopped = tss.stop_backfill("cl-drip", listed.id)
        assert stopped.state == "stopped" and stopped.made == 1 and stopped.count == 3
        with pytest.raises(Conflict) as twice:
            tss.stop_backfill("cl-drip", listed.id)
        assert twice.value.field == "backfill"

    async def body() -> None:
        async with AsyncClient(node.url, ADMIN) as tss:
            again = await tss.backfill_job(
                "cl-drip", **{"from": start - timedelta(days=2), "to": start}, max_active=1
            )
            assert again.backfill is not None
            newest, oldest = await tss.backfills("cl-drip")
            assert newest.id == again.backfill.id and oldest.state == "stopped"
            stopped = await tss.stop_backfill("cl-drip", newest.id)
            assert stopped.state == "stopped"
            with pytest.raises(NotFound) as unknown:
                await tss.stop_backfill("cl-drip", "nope")
            assert unknown.value.field == "backfill"

    asyncio.run(body())
