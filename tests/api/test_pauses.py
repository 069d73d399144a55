"""Pauses with a note and an end time over HTTP: one job, or every job a filter selects;
who paused it shows on the job; bad input is refused naming the field, and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.live import ADMIN, LiveAPI
from tss.client import Client

J = "/api/v1/jobs"


def make(admin: httpx.Client, name: str, **extra: Any) -> None:
    made = admin.post(J, json={"name": name, "type": "noop", **extra})
    assert made.status_code == 201, made.text


def audit(api: LiveAPI, target: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit log's (actor, action, details) for ``target``, oldest first."""

    async def read() -> Any:
        return await api.tss.store.list_audit(target=target, limit=100)

    page = api.call(read())
    return [(e.actor, e.action, e.details) for e in reversed(page.items)]


def test_pause_with_a_note_and_an_end_shows_on_the_job_and_in_the_audit_log(
    api: LiveAPI, admin: httpx.Client, tokens: dict[str, str]
) -> None:
    make(admin, "note-a", schedule={"every": "1h"})
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    with api.client(tokens["operator"]) as operator:
        paused = operator.post(
            f"{J}/note-a/pause",
            json={"note": "  disk full — see INC-42 ", "until": until.isoformat()},
        )
    assert paused.status_code == 200, paused.text
    pause = paused.json()["pause"]
    assert paused.json()["paused"] is True
    assert pause["by"] == "token:t-operator"
    assert pause["note"] == "disk full — see INC-42"
    assert datetime.fromisoformat(pause["until"]) == until
    assert admin.get(f"{J}/note-a").json()["pause"] == pause
    listed = admin.get(J, params={"prefix": "note-"}).json()["items"]
    assert listed[0]["pause"] == pause
    resumed = admin.post(f"{J}/note-a/resume")
    assert resumed.json()["pause"] is None and resumed.json()["paused"] is False
    assert audit(api, "note-a")[-2:] == [
        ("token:t-operator", "job.pause", {"note": "disk full — see INC-42",
                                          "until": until.isoformat()}),
        ("token:env-admin", "job.resume", {"auto": False}),
    ]  # fmt: skip


def test_pause_without_a_body_and_with_a_duration(admin: httpx.Client) -> None:
    make(admin, "note-b")
    plain = admin.post(f"{J}/note-b/pause")
    assert plain.status_code == 200
    assert plain.json()["pause"]["note"] == "" and plain.json()["pause"]["until"] is None
    before = datetime.now(UTC)
    again = admin.post(f"{J}/note-b/pause", json={"until": "2h", "note": "longer"})
    until = datetime.fromisoformat(again.json()["pause"]["until"])
    assert before + timedelta(hours=2) - timedelta(minutes=1) < until
    assert until < datetime.now(UTC) + timedelta(hours=2, minutes=1)
    assert again.json()["pause"]["note"] == "longer"


def test_reapplying_a_definition_keeps_the_pause_and_its_note(admin: httpx.Client) -> None:
    make(admin, "note-c", schedule={"every": "1h"})
    admin.post(f"{J}/note-c/pause", json={"note": "hold"})
    applied = admin.post(
        f"{J}/apply", json={"jobs": [{"name": "note-c", "type": "noop", "priority": 4,
                                      "schedule": {"every": "1h"}}]}
    )  # fmt: skip
    assert applied.status_code == 200, applied.text
    job = admin.get(f"{J}/note-c").json()
    assert job["spec"]["priority"] == 4 and job["paused"] is True
    assert job["pause"]["note"] == "hold"


def test_bulk_pause_and_resume_by_tag_prefix_and_names(api: LiveAPI, admin: httpx.Client) -> None:
    for name, tags in (
        ("bulk-a", ["etl"]),
        ("bulk-b", ["etl"]),
        ("bulk-c", []),
        ("other-d", ["etl"]),
    ):
        make(admin, name, tags=tags)
    admin.post(f"{J}/bulk-b/pause", json={"note": "earlier"})
    done = admin.post(f"{J}/pause", json={"prefix": "bulk-", "tag": "etl", "note": "etl freeze"})
    assert done.status_code == 200, done.text
    assert done.json() == {"items": ["bulk-a"], "count": 1}  # bulk-b was paused already
    assert admin.get(f"{J}/bulk-b").json()["pause"]["note"] == "earlier"
    assert admin.get(f"{J}/other-d").json()["paused"] is False
    named = admin.post(f"{J}/pause", json={"names": ["bulk-c", "other-d"], "until": "1d"})
    assert named.json()["items"] == ["bulk-c", "other-d"]
    resumed = admin.post(f"{J}/resume", json={"prefix": "bulk-"})
    assert resumed.json() == {"items": ["bulk-a", "bulk-b", "bulk-c"], "count": 3}
    assert admin.get(f"{J}/bulk-a").json()["pause"] is None
    assert audit(api, "bulk-a")[-2:] == [
        ("token:env-admin", "job.pause", {"note": "etl freeze", "until": None}),
        ("token:env-admin", "job.resume", {"auto": False}),
    ]
    everything = admin.post(f"{J}/resume", json={"all": True}).json()["items"]
    assert "other-d" in everything and "bulk-a" not in everything
    assert admin.get(J, params={"paused": "true"}).json()["items"] == []


def test_a_viewer_may_not_pause_in_bulk(api: LiveAPI, tokens: dict[str, str]) -> None:
    with api.client(tokens["viewer"]) as viewer:
        assert viewer.post(f"{J}/pause", json={"all": True}).status_code == 403


def test_the_client_pauses_with_a_note(api: LiveAPI, admin: httpx.Client) -> None:
    make(admin, "client-a", tags=["c"])
    make(admin, "client-b", tags=["c"])
    with Client(api.url, token=ADMIN) as client:
        job = client.pause_job("client-a", note="by client", until="30m")
        assert job.pause is not None and job.pause.note == "by client"
        assert job.pause.until is not None
        assert client.resume_job("client-a").pause is None
        assert client.pause_jobs(tag="c", note="both").items == ["client-a", "client-b"]
        assert client.resume_jobs(names=["client-b"]).count == 1


BAD: list[tuple[str, str, Any, str]] = [
    # (label, url, body, field)
    ("note too long", f"{J}/bad-a/pause", {"note": "x" * 501}, "note"),
    ("a line break in the note", f"{J}/bad-a/pause", {"note": "two\nlines"}, "note"),
    ("an escape in the note", f"{J}/bad-a/pause", {"note": "red \x1b[31m"}, "note"),
    ("until in the past", f"{J}/bad-a/pause", {"until": "2020-01-01T00:00:00Z"}, "until"),
    ("until not a time", f"{J}/bad-a/pause", {"until": "soonish"}, "until"),
    ("until a negative duration", f"{J}/bad-a/pause", {"until": "-2h"}, "until"),
    ("until too far", f"{J}/bad-a/pause", {"until": "9000d"}, "until"),
    ("unknown key", f"{J}/bad-a/pause", {"reason": "x"}, "reason"),
    ("empty bulk filter", f"{J}/pause", {"note": "all?"}, "filter"),
    ("empty bulk resume filter", f"{J}/resume", {}, "filter"),
    ("all false", f"{J}/pause", {"all": False}, "filter"),
    ("bulk note too long", f"{J}/pause", {"all": True, "note": "y" * 600}, "note"),
    ("bulk until in the past", f"{J}/pause", {"all": True, "until": "2001-01-01T00:00:00"},
     "until"),
    ("bulk names not a list", f"{J}/pause", {"names": "bad-a"}, "names"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "url", "body", "field"), BAD, ids=[c[0] for c in BAD])
def test_bad_pause_input_is_refused_and_changes_nothing(
    api: LiveAPI, admin: httpx.Client, label: str, url: str, body: Any, field: str
) -> None:
    if admin.get(f"{J}/bad-a").status_code == 404:
        make(admin, "bad-a")
    before = admin.get(f"{J}/bad-a").json()
    logged = audit(api, "bad-a")
    refused = admin.post(url, json=body)
    assert refused.status_code == 422, (label, refused.text)
    assert refused.json()["error"]["field"] == field, (label, refused.text)
    after = admin.get(f"{J}/bad-a").json()
    assert (after["paused"], after["pause"], after["version"]) == (False, None, before["version"])
    assert audit(api, "bad-a") == logged


def test_bulk_names_with_an_unknown_job_change_nothing(admin: httpx.Client) -> None:
    make(admin, "known-a")
    refused = admin.post(f"{J}/pause", json={"names": ["known-a", "unknown-z"]})
    assert refused.status_code == 404
    assert "unknown-z" in refused.json()["error"]["message"]
    assert admin.get(f"{J}/known-a").json()["paused"] is False
