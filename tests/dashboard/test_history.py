"""A job's versions and the audit log in a real browser: the job page lists who changed the
job and when (``config`` for the server's own config), shows a version's diff, and lets an
admin roll back; a viewer sees the history but no rollback and no audit page; the Audit
page filters by action and actor."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Server, Tab

pytestmark = pytest.mark.slow

JOB = "/dashboard/jobs/nightly-report"


def test_history_diff_and_rollback_as_an_admin(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        changed = admin.patch("/api/v1/jobs/nightly-report", json={"priority": 7})
        assert changed.status_code == 200, changed.text
    page = tab.login("admin").open(JOB)
    rows = page.locator("[data-testid=versions] tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("updated")
    expect(rows.nth(1)).to_contain_text("created")
    expect(rows.nth(1)).to_contain_text("config")
    page.click("[data-diff='2']")
    diff = page.locator("[data-testid=diff]")
    expect(diff).to_contain_text("Version 2 against version 1")
    priority = diff.locator("tr", has=page.locator("code:text-is('priority')"))
    expect(priority).to_contain_text("0")
    expect(priority).to_contain_text("7")
    tab.shot("diff")
    expect(page.locator("[data-action=rollback][data-version='2']")).to_have_count(0)
    page.click("[data-action=rollback][data-version='1']")
    page.click("[data-action=confirm-rollback]")
    expect(page.locator("[data-testid=versions] tbody tr")).to_have_count(3)
    expect(page.locator("[data-testid=versions] tbody tr").nth(0)).to_contain_text("rolled back")
    tab.shot("rolled-back")
    with server.api() as admin:
        assert admin.get("/api/v1/jobs/nightly-report").json()["spec"]["priority"] == 0
        (entry,) = admin.get("/api/v1/audit", params={"action": "job.rollback"}).json()["items"]
    assert entry["target"] == "nightly-report" and entry["details"]["to"] == 1


def test_a_viewer_sees_history_without_rollback_or_audit(tab: Tab, server: Server) -> None:
    page = tab.login("viewer").open(JOB)
    expect(page.locator("[data-testid=versions] tbody tr").first).to_be_visible()
    expect(page.locator("[data-diff]").first).to_be_visible()
    expect(page.locator("[data-action=rollback]")).to_have_count(0)
    expect(page.locator("#nav a:text-is('Audit')")).to_have_count(0)
    tab.open("/dashboard/audit")
    expect(page.locator("main")).to_contain_text("for admins")


def test_the_audit_page_filters_by_action_and_actor(tab: Tab, server: Server) -> None:
    with server.api(server.tokens["operator"]) as operator:
        assert (
            operator.post("/api/v1/jobs/publish/pause", json={"note": "audit me"}).status_code
            == 200
        )
        assert operator.post("/api/v1/jobs/publish/resume").status_code == 200
    page = tab.login("admin").open("/dashboard")
    page.click("#nav a:text-is('Audit')")
    page.wait_for_selector("main h1:text('Audit')")
    rows = page.locator("[data-testid=audit] tbody tr")
    expect(rows.first).to_be_visible()
    page.select_option("select[name=action]", "job.pause")
    page.click("form.filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("token:ui-operator")
    expect(rows.first).to_contain_text("publish")
    expect(rows.first).to_contain_text("audit me")
    tab.shot("audit-filtered")
    page.fill("input[name=actor]", "nobody")
    page.click("form.filters button[type=submit]")
    expect(page.locator("[data-testid=audit]")).to_contain_text("No entry matches.")
    assert "actor=nobody" in page.url and "action=job.pause" in page.url
