"""Pausing from the dashboard with a note and an end time, in a real browser: the job page
and the Jobs list show who paused it, why and until when; a bad end time is refused naming
the field and changes nothing; the jobs the Jobs filter selects are paused and resumed in
bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Server, Tab

pytestmark = pytest.mark.slow

NOTE = "<b>db upgrade</b>, ask #ops before resuming"


def test_pause_with_a_note_and_an_end_then_resume(tab: Tab, server: Server) -> None:
    page = tab.login("operator").open("/dashboard/jobs/nightly-report")
    page.click("[data-action=pause]")
    page.fill("#pause-note", NOTE)
    page.fill("#pause-until", "2h")
    tab.shot("pause-dialog")
    page.click("#pause-dialog button[type=submit]")
    page.wait_for_selector("[data-action=resume]")
    shown = page.locator("[data-testid=pause]")
    expect(shown).to_contain_text("Paused by token:ui-operator")
    expect(shown).to_contain_text(NOTE)  # as text: the markup is not run
    expect(shown).to_contain_text("resumes")
    expect(page.locator("[data-testid=pause] b")).to_have_count(0)
    tab.shot("paused")
    with server.api() as admin:
        pause = admin.get("/api/v1/jobs/nightly-report").json()["pause"]
    assert pause["note"] == NOTE and pause["by"] == "token:ui-operator"
    until = datetime.fromisoformat(pause["until"])
    assert timedelta(hours=1, minutes=58) < until - datetime.now(UTC) <= timedelta(hours=2)

    tab.open("/dashboard/jobs")
    row = page.locator("tr", has=page.locator("a:text-is('nightly-report')"))
    expect(row.locator("[data-testid=pause-note]")).to_contain_text("by token:ui-operator")
    expect(row.locator("[data-testid=pause-note]")).to_contain_text("<b>db upgrade</b>")
    expect(row).to_contain_text("paused until")
    tab.shot("jobs-list")
    row.locator("[data-action=resume]").click()
    row.locator("[data-action=pause]").wait_for()
    expect(row.locator("[data-testid=pause-note]")).to_have_count(0)
    with server.api() as admin:
        assert admin.get("/api/v1/jobs/nightly-report").json()["pause"] is None


def test_an_end_in_the_past_is_refused_naming_it(tab: Tab, server: Server) -> None:
    page = tab.login("operator").open("/dashboard/jobs/publish")
    page.click("[data-action=pause]")
    page.fill("#pause-note", "never stored")
    page.fill("#pause-until", "2020-01-01T00:00:00Z")
    page.click("#pause-dialog button[type=submit]")
    error = page.locator("[data-testid=pause-error]")
    expect(error).to_contain_text("until")
    expect(page.locator("#pause-until")).to_have_attribute("aria-invalid", "true")
    tab.shot("refused")
    with server.api() as admin:
        job = admin.get("/api/v1/jobs/publish").json()
    assert job["paused"] is False and job["pause"] is None
    page.click("#pause-dialog button:text('Cancel')")
    assert len(tab.errors) == 1 and "422" in tab.errors[0], tab.errors
    tab.errors.clear()  # the refused POST (422) is logged by the browser: expected here


def test_bulk_pause_and_resume_of_the_filtered_jobs(tab: Tab, server: Server) -> None:
    page = tab.login("operator").open("/dashboard/jobs?prefix=b")
    page.click("[data-action=pause-matching]")
    expect(page.locator("#pause-title")).to_contain_text("prefix b")
    page.fill("#pause-note", "freeze")
    page.click("#pause-dialog button[type=submit]")
    row = page.locator("tr", has=page.locator("a:text-is('boom')"))
    expect(row.locator("[data-testid=pause-note]")).to_contain_text("freeze")
    tab.shot("bulk-paused")
    with server.api() as admin:
        jobs = {j["name"]: j for j in admin.get("/api/v1/jobs").json()["items"]}
    assert {n for n, j in jobs.items() if j["paused"]} == {"blocker", "boom"}
    assert jobs["boom"]["pause"]["note"] == "freeze"
    page.click("[data-action=resume-matching]")
    page.click("#confirm-dialog button[type=submit]")
    row.locator("[data-action=pause]").wait_for()
    with server.api() as admin:
        assert not any(j["paused"] for j in admin.get("/api/v1/jobs").json()["items"])


def test_a_viewer_sees_the_note_but_no_pause_button(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        admin.post("/api/v1/jobs/slow/pause", json={"note": "by the admin"})
    try:
        page = tab.login("viewer").open("/dashboard/jobs/slow")
        expect(page.locator("[data-testid=pause]")).to_contain_text("by the admin")
        expect(page.locator("[data-action=resume]")).to_have_count(0)
        tab.open("/dashboard/jobs")
        expect(page.locator("[data-action=pause-matching]")).to_have_count(0)
    finally:
        with server.api() as admin:
            admin.post("/api/v1/jobs/slow/resume")
