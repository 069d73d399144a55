"""Job versions, diffs, rollback and the audit log over HTTP: who changed what shows on
the job's versions; a viewer never reads an env value in a version or a diff; rollback is
for admins, stores a new version and refuses an unknown one naming ``to``; the audit log
is for admins, filtered and paged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.live import LiveAPI
from tss.client import Client
from tss.errors import NotFound

J = "/api/v1/jobs"
OLD_SECRET = "first-literal-secret-value"
NEW_SECRET = "second-literal-secret-value"


@pytest.fixture(scope="module")
def owner(api: LiveAPI, tokens: dict[str, str]) -> Any:
    """A client with the ``t-admin`` token (actor ``token:t-admin``)."""
    with api.client(tokens["admin"]) as client:
        yield client


def make(client: httpx.Client, name: str, **extra: Any) -> None:
    made = client.post(J, json={"name": name, "type": "noop", **extra})
    assert made.status_code == 201, made.text


def versions(client: httpx.Client, name: str) -> list[dict[str, Any]]:
    answer = client.get(f"{J}/{name}/versions")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_each_change_is_a_version_with_who_and_a_diff(owner: httpx.Client) -> None:
    make(owner, "hist-a", priority=1, schedule={"cron": "0 2 * * *"})
    patched = owner.patch(f"{J}/hist-a", json={"priority": 4, "schedule": {"cron": "0 3 * * *"}})
    assert patched.status_code == 200, patched.text
    found = versions(owner, "hist-a")
    assert [(v["version"], v["change"], v["actor"]) for v in found] == [
        (2, "updated", "token:t-admin"),
        (1, "created", "token:t-admin"),
    ]
    assert found[0]["spec"]["priority"] == 4 and found[1]["spec"]["priority"] == 1
    detail = owner.get(f"{J}/hist-a/versions/2")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["against"] == 1 and body["version"] == 2
    changes = {c["path"]: (c["kind"], c["old"], c["new"]) for c in body["changes"]}
    assert changes == {
        "priority": ("changed", 1, 4),
        "schedule.cron": ("changed", "0 2 * * *", "0 3 * * *"),
    }
    first = owner.get(f"{J}/hist-a/versions/1").json()
    assert first["against"] is None
    assert {c["kind"] for c in first["changes"]} == {"added"}
    backwards = owner.get(f"{J}/hist-a/versions/1", params={"against": 2}).json()
    assert {c["path"]: c["new"] for c in backwards["changes"]}["priority"] == 1


def test_unknown_versions_and_jobs_are_404_naming_the_field(owner: httpx.Client) -> None:
    make(owner, "hist-b")
    missing = owner.get(f"{J}/hist-b/versions/9")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "version"
    against = owner.get(f"{J}/hist-b/versions/1", params={"against": 5})
    assert against.status_code == 404 and against.json()["error"]["field"] == "against"
    assert owner.get(f"{J}/never-was/versions").status_code == 404
    assert owner.get(f"{J}/hist-b/versions/0").status_code == 422


def test_a_viewer_never_reads_env_values_in_versions_or_diffs(
    api: LiveAPI, owner: httpx.Client, tokens: dict[str, str]
) -> None:
    make(owner, "hist-env", type="shell", params={"argv": ["true"], "env": {"PW": OLD_SECRET}})
    changed = owner.patch(f"{J}/hist-env", json={"params": {"env": {"PW": NEW_SECRET}}})
    assert changed.status_code == 200, changed.text
    for role in ("viewer", "operator"):
        with api.client(tokens[role]) as client:
            listed = client.get(f"{J}/hist-env/versions")
            diff = client.get(f"{J}/hist-env/versions/2")
        for answer in (listed, diff):
            assert answer.status_code == 200, answer.text
            assert OLD_SECRET not in answer.text and NEW_SECRET not in answer.text
        assert listed.json()["items"][0]["spec"]["params"]["env"] == {"PW": "***"}
        change = {c["path"]: c for c in diff.json()["changes"]}["params.env.PW"]
        assert (change["old"], change["new"]) == ("***", "***")
    clear = owner.get(f"{J}/hist-env/versions/2").json()
    change = {c["path"]: c for c in clear["changes"]}["params.env.PW"]
    assert (change["old"], change["new"]) == (OLD_SECRET, NEW_SECRET)


def test_rollback_is_a_new_version_for_admins_only(
    api: LiveAPI, owner: httpx.Client, tokens: dict[str, str]
) -> None:
    make(owner, "hist-r", priority=1)
    assert owner.patch(f"{J}/hist-r", json={"priority": 7}).status_code == 200
    with api.client(tokens["operator"]) as operator:
        assert operator.post(f"{J}/hist-r/rollback", json={"to": 1}).status_code == 403
    done = owner.post(f"{J}/hist-r/rollback", json={"to": 1})
    assert done.status_code == 200, done.text
    assert done.json() == {"job": "hist-r", "to": 1, "changed": True, "version": 3}
    assert owner.get(f"{J}/hist-r").json()["spec"]["priority"] == 1
    newest = versions(owner, "hist-r")[0]
    assert (newest["version"], newest["change"], newest["actor"]) == (
        3,
        "rolled_back",
        "token:t-admin",
    )
    again = owner.post(f"{J}/hist-r/rollback", json={"to": 1})
    assert again.json() == {"job": "hist-r", "to": 1, "changed": False, "version": None}
    assert len(versions(owner, "hist-r")) == 3


def test_rollback_refuses_bad_versions_and_stores_nothing(owner: httpx.Client) -> None:
    make(owner, "hist-bad")
    for body, status in (({"to": 5}, 404), ({"to": 0}, 422), ({"to": "1"}, 422), ({}, 422)):
        refused = owner.post(f"{J}/hist-bad/rollback", json=body)
        assert refused.status_code == status, (body, refused.text)
        assert refused.json()["error"]["field"] == "to", (body, refused.text)
    assert len(versions(owner, "hist-bad")) == 1


def test_rollback_of_a_deleted_job_makes_it_again(owner: httpx.Client) -> None:
    make(owner, "hist-gone", priority=3)
    assert owner.delete(f"{J}/hist-gone").status_code == 204
    assert owner.get(f"{J}/hist-gone").status_code == 404
    deletion = owner.post(f"{J}/hist-gone/rollback", json={"to": 2})
    assert deletion.status_code == 422 and deletion.json()["error"]["field"] == "to"
    back = owner.post(f"{J}/hist-gone/rollback", json={"to": 1})
    assert back.status_code == 200, back.text
    assert back.json()["version"] == 3
    assert owner.get(f"{J}/hist-gone").json()["spec"]["priority"] == 3
    assert [v["change"] for v in versions(owner, "hist-gone")] == [
        "rolled_back",
        "deleted",
        "created",
    ]


def test_the_audit_log_is_for_admins_filtered_and_paged(
    api: LiveAPI, owner: httpx.Client, tokens: dict[str, str]
) -> None:
    make(owner, "hist-audit")
    assert owner.patch(f"{J}/hist-audit", json={"priority": 2}).status_code == 200
    made = owner.post("/api/v1/tokens", json={"name": "hist-token", "role": "viewer"})
    secret = made.json()["token"]
    assert owner.post(f"{J}/hist-audit/runs", json={}).status_code == 201
    for role in ("viewer", "operator"):
        with api.client(tokens[role]) as client:
            assert client.get("/api/v1/audit").status_code == 403
    about = owner.get("/api/v1/audit", params={"target": "hist-audit"}).json()["items"]
    assert [(e["actor"], e["action"]) for e in about] == [
        ("token:t-admin", "run.trigger"),
        ("token:t-admin", "job.update"),
        ("token:t-admin", "job.create"),
    ]
    assert about[0]["details"]["count"] == 1
    token = owner.get("/api/v1/audit", params={"action": "token.create", "target": "hist-token"})
    (entry,) = token.json()["items"]
    assert entry["details"]["role"] == "viewer" and secret not in token.text
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"actor": "token:t-admin", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = owner.get("/api/v1/audit", params=params).json()
        seen.extend(e["id"] for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = owner.get("/api/v1/audit", params={"actor": "token:t-admin", "limit": 1000})
    assert seen == [e["id"] for e in everything.json()["items"]] and len(seen) >= 4
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "job.explode"}, "action"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
    ],
)
def test_bad_audit_queries_name_the_field(
    owner: httpx.Client, params: dict[str, Any], field: str
) -> None:
    refused = owner.get("/api/v1/audit", params=params)
    assert refused.status_code in (400, 422), refused.text
    assert refused.json()["error"]["field"] == field, refused.text


def test_the_client_reads_versions_rolls_back_and_lists_the_audit_log(
    api: LiveAPI, tokens: dict[str, str]
) -> None:
    with Client(api.url, token=tokens["admin"]) as tss:
        tss.create_job({"name": "hist-client", "type": "noop", "priority": 2})
        tss.patch_job("hist-client", {"priority": 5})
        listed = tss.job_versions("hist-client")
        assert [v.version for v in listed.items] == [2, 1]
        detail = tss.job_version("hist-client", 2)
        assert [(c.path, c.old, c.new) for c in detail.changes] == [("priority", 2, 5)]
        assert tss.job_version("hist-client", 1, against=2).against == 2
        done = tss.rollback_job("hist-client", 1)
        assert (done.changed, done.version) == (True, 3)
        with pytest.raises(NotFound) as info:
            tss.rollback_job("hist-client", 42)
        assert info.value.field == "to"
        page = tss.list_audit(target="hist-client", action="job.rollback")
        assert [(e.actor, e.details["to"]) for e in page.items] == [("token:t-admin", 1)]


def test_a_version_that_no_longer_passes_the_checks_is_refused_naming_to(
    owner: httpx.Client,
) -> None:
    make(owner, "hist-parent")
    make(owner, "hist-child", depends_on=["hist-parent"])
    assert owner.patch(f"{J}/hist-child", json={"depends_on": []}).status_code == 200
    assert owner.delete(f"{J}/hist-parent").status_code == 204
    refused = owner.post(f"{J}/hist-child/rollback", json={"to": 1})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["field"] == "to" and "hist-parent" in error["message"], error
    assert len(versions(owner, "hist-child")) == 2
    assert owner.get(f"{J}/hist-child").json()["spec"]["depends_on"] == []
    huge = owner.post(f"{J}/hist-child/rollback", json={"to": 2**40})
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "to"


def test_a_batch_apply_audits_each_job_it_changed_and_no_other(owner: httpx.Client) -> None:
    batch = [{"name": "hist-ap1", "type": "noop"}, {"name": "hist-ap2", "type": "noop"}]
    assert owner.post(f"{J}/apply", json={"jobs": batch}).status_code == 200
    batch[1]["priority"] = 3
    done = owner.post(f"{J}/apply", json={"jobs": batch}).json()["items"]
    assert [i["action"] for i in done] == ["unchanged", "updated"]
    for name, actions in (("hist-ap1", ["job.create"]), ("hist-ap2", ["job.update", "job.create"])):
        entries = owner.get("/api/v1/audit", params={"target": name}).json()["items"]
        assert [e["action"] for e in entries] == actions
        assert [v["version"] for v in versions(owner, name)] == list(range(len(actions), 0, -1))
