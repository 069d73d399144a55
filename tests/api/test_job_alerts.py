"""A job's own alert rules at the door: kept as written, refused with the field named
(an unknown kind, a setting that does not apply, a pool rule on a job, a channel the
server's config does not have), and nothing stored."""

from __future__ import annotations

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI


@pytest.fixture(scope="module")
def admin(node: LiveAPI) -> httpx.Client:
    with node.client(ADMIN) as client:
        yield client


def test_a_jobs_rules_are_kept(admin: httpx.Client) -> None:
    body = {
        "name": "watched",
        "type": "noop",
        "alerts": ["dead", {"on": "missed", "after": "30m"}, {"on": "slow", "factor": 3}],
    }
    made = admin.post("/api/v1/jobs", json=body)
    assert made.status_code == 201, made.text
    rules = made.json()["spec"]["alerts"]["rules"]
    assert [(r["on"], r["after"]) for r in rules] == [
        ("dead", None),
        ("missed", 1800.0),
        ("slow", None),
    ]


@pytest.mark.parametrize(
    ("alerts", "field"),
    [
        ([{"on": "exploded"}], "alerts"),
        ([{"on": "late", "count": 3}], "alerts"),
        ([{"on": "backlog", "depth": 5}], "alerts"),
        ([{"on": "dead", "channels": ["pager"]}], "alerts.rules[0].channels"),
        ([{"on": "dead", "jobs": ["x"]}], "alerts"),
        ({"rules": ["dead"], "colour": "red"}, "alerts"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    admin: httpx.Client, alerts: object, field: str
) -> None:
    answer = admin.post("/api/v1/jobs", json={"name": "refused", "type": "noop", "alerts": alerts})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"].startswith(field), answer.text
    assert admin.get("/api/v1/jobs/refused").status_code == 404
