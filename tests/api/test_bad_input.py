"""Bad input at the API's door: each gets its 4xx naming the field, and nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.live import LiveAPI

J = "/api/v1/jobs"


def snapshot(api: LiveAPI) -> tuple[list[str], int, int]:
    """Every job name, how many runs, and the newest event id: what a bad request must
    leave as it was."""

    async def read() -> tuple[list[str], int, int]:
        store = api.tss.store
        page = await store.list_jobs(limit=10_000)
        runs = sum((await store.count_runs()).values())
        events = await store.list_events(after=0, limit=100_000)
        return [j.name for j in page.items], runs, events[-1].id if events else 0

    result: tuple[list[str], int, int] = api.call(read())
    return result


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"d": value}
    return value


CASES: list[tuple[str, str, str, Any, int, str | None]] = [
    # (label, method, url, json body, status, field)
    ("invalid cron", "POST", J, {"name": "b1", "type": "noop", "schedule": {"cron": "61 * * * *"}},
     422, "schedule.cron"),
    ("unknown time zone", "POST", J,
     {"name": "b2", "type": "noop", "schedule": {"cron": "0 * * * *", "timezone": "Mars/Olympus"}},
     422, "schedule.timezone"),
    ("script in the name", "POST", J, {"name": "<script>alert(1)</script>", "type": "noop"},
     422, "name"),
    ("interval 0", "POST", J, {"name": "b3", "type": "noop", "schedule": {"every": 0}},
     422, "schedule.every"),
    ("unknown key", "POST", J, {"name": "b4", "type": "noop", "colour": "red"}, 422, "colour"),
    ("negative max_lost", "POST", J, {"name": "b8", "type": "noop", "max_lost": -1}, 422,
     "max_lost"),
    ("unknown task type", "POST", J, {"name": "b5", "type": "nope"}, 422, "type"),
    ("a required label with a space", "POST", J,
     {"name": "b30", "type": "noop", "requires": ["gpu", "two words"]}, 422, "requires"),
    ("requires not a list", "POST", J, {"name": "b31", "type": "noop", "requires": "gpu"},
     422, "requires"),
    ("missing name", "POST", J, {"type": "noop"}, 422, "name"),
    ("deeply nested params", "POST", J, {"name": "b6", "type": "noop", "params": deep(200)},
     400, "body"),
    ("self dependency", "POST", J, {"name": "b7", "type": "noop", "depends_on": ["b7"]},
     422, "depends_on"),
    ("run_at in year 10000", "POST", f"{J}/victim/runs", {"run_at": "10000-01-01T00:00:00Z"},
     422, "run_at"),
    ("priority out of range", "POST", f"{J}/victim/runs", {"priority": 10}, 422, "priority"),
    ("params of the wrong type", "POST", f"{J}/victim/runs", {"params": [1, 2]}, 422, "params"),
    ("negative limit", "GET", f"{J}?limit=-1", None, 422, "limit"),
    ("unknown state", "GET", "/api/v1/runs?state=sleeping", None, 422, "state[0]"),
    ("bad token role", "POST", "/api/v1/tokens", {"name": "t", "role": "root"}, 422, "role"),
    # Extremes (security review, findings 2, 4, 10 and 11): each once gave a 500, stored a
    # value that stopped the server, or was taken as something else.
    *[(f"cursor {c}", "GET", f"{J}?sort={sort}&cursor={c}", None, 422, "cursor") for sort, c in [
        ("next_fire_at", "WyJuZXh0X2ZpcmVfYXQiLDE4NDQ2NzQ0MDczNzA5NTUxNjE1LCJhIl0"),
        ("-created_at", "WyItY3JlYXRlZF9hdCIsOTIyMzM3MjAzNjg1NDc3NTgwOCwiYSJd"),
    ]],
    ("since before year 1 in UTC", "GET", "/api/v1/runs?since=0001-01-01T00:00:00%2B14:00",
     None, 422, "since"),
    ("until after year 9999 in UTC", "GET", "/api/v1/runs?until=9999-12-31T23:59:59-14:00",
     None, 422, "until"),
    ("run_at after year 9999 in UTC", "POST", f"{J}/victim/runs",
     {"run_at": "9999-12-31T23:59:59-14:00"}, 422, "run_at"),
    ("token expiry after year 9999", "POST", "/api/v1/tokens",
     {"name": "t-far", "role": "viewer", "expires_at": "9999-12-31T23:59:59-14:00"},
     422, "expires_at"),
    ("schedule.at after year 9999", "POST", J,
     {"name": "b8", "type": "noop", "schedule": {"at": "9999-12-31T23:59:59-14:00"}},
     422, "schedule.at"),
    ("schedule.start before year 1", "POST", J,
     {"name": "b9", "type": "noop",
      "schedule": {"every": 60, "start": "0001-01-01T00:00:00+14:00"}},
     422, "schedule.start"),
    *[(f"every {v!r}", "POST", J, {"name": "b10", "type": "noop", "schedule": {"every": v}},
       422, "schedule.every") for v in (1e300, 10**20, "99999999999999h", "inf")],
    *[(f"retries.{k} inf", "POST", J, {"name": "b11", "type": "noop", "retries": {k: "inf"}},
       422, f"retries.{k}") for k in ("delay", "max_delay", "jitter")],
    *[(f"timeout {v!r}", "POST", J, {"name": "b12", "type": "noop", "timeout": v},
       422, "timeout") for v in ("inf", "nan", 18446744073709551616)],
    ("a 10,000-character cron", "POST", J,
     {"name": "b13", "type": "noop", "schedule": {"cron": ",".join(["*/1"] * 2500) + " * * * *"}},
     422, "schedule.cron"),
    ("a name ending in a newline", "POST", J, {"name": "b14\n", "type": "noop"}, 422, "name"),
    ("a pool ending in a newline", "POST", J, {"name": "b15", "type": "noop", "pool": "default\n"},
     422, "pool"),
    ("max_active_runs above 2^53", "POST", J,
     {"name": "b16", "type": "noop", "max_active_runs": 2**60}, 422, "max_active_runs"),
    ("an overridable command", "POST", J,
     {"name": "b17", "type": "shell", "params": {"argv": ["true"]}, "overridable": ["argv"]},
     422, "overridable"),
    ("an overridable environment", "POST", J,
     {"name": "b18", "type": "shell", "params": {"argv": ["true"]}, "overridable": ["env.PATH"]},
     422, "overridable"),
    ("an overridable function", "POST", J,
     {"name": "b19", "type": "python", "params": {"function": "json:dumps"},
      "overridable": ["function"]}, 422, "overridable"),
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def victim(admin: httpx.Client) -> None:
    assert admin.post(J, json={"name": "victim", "type": "noop"}).status_code == 201


@pytest.mark.parametrize(("label", "method", "url", "body", "status", "field"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_refused_with_the_field_named(
    api: LiveAPI,
    admin: httpx.Client,
    label: str,
    method: str,
    url: str,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    before = snapshot(api)
    response = admin.request(method, url, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert error["message"]
    assert snapshot(api) == before


def test_cycle_in_depends_on(api: LiveAPI, admin: httpx.Client) -> None:
    assert admin.post(J, json={"name": "cyc-a", "type": "noop"}).status_code == 201
    assert (
        admin.post(J, json={"name": "cyc-b", "type": "noop", "depends_on": ["cyc-a"]}).status_code
        == 201
    )
    before = snapshot(api)
    response = admin.patch(f"{J}/cyc-a", json={"depends_on": ["cyc-b"]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "depends_on"
    assert "cyc-a -> cyc-b -> cyc-a" in response.json()["error"]["message"]
    assert snapshot(api) == before
    assert admin.get(f"{J}/cyc-a").json()["spec"]["depends_on"] == []


def test_ten_mebibyte_body(api: LiveAPI, admin: httpx.Client) -> None:
    before = snapshot(api)
    body = b'{"name": "big", "type": "noop", "description": "' + b"x" * (10 << 20) + b'"}'
    response = admin.post(J, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": response.json()["error"]["message"],
        "field": "body",
    }
    # Without a Content-Length the limit is enforced while reading.
    chunks = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    streamed = admin.post(J, content=chunks, headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert snapshot(api) == before


def test_malformed_json(api: LiveAPI, admin: httpx.Client) -> None:
    before = snapshot(api)
    response = admin.post(J, content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    hostile = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    response = admin.post(J, content=hostile, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert snapshot(api) == before


def test_unknown_route_and_method(admin: httpx.Client) -> None:
    assert admin.get("/api/v1/nothing-here").json()["error"]["code"] == "not_found"
    response = admin.request("TRACE", J)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
