"""Acting from the dashboard in a real browser: run a job now and watch its run go
queued -> running -> succeeded without a reload; pause and resume; retry a dead letter."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Server, Tab

pytestmark = pytest.mark.slow


def state(tab: Tab) -> str:
    text: str = tab.page.locator("[data-testid=run-state]").inner_text()
    return text.strip()


def test_run_now_and_watch_it_live(tab: Tab, server: Server) -> None:
    page = tab.login("operator").open("/dashboard/jobs")
    page.evaluate("() => { window.sameDocument = true; }")
    row = page.locator("tr", has=page.locator("a:text-is('slow')"))
    row.locator("[data-action=run]").click()
    page.fill("#run-params", '{"kwargs": {"seconds": 1.5}}')
    tab.shot("run-dialog")
    server.trigger("blocker", "running")  # 4 s on the only slot: the next run waits
    page.click("dialog button[type=submit]")
    page.wait_for_selector("[data-testid=run-state] [data-state=queued]", timeout=10_000)
    tab.shot("queued")
    page.wait_for_selector("[data-testid=run-state] [data-state=running]", timeout=15_000)
    page.wait_for_selector("[data-testid=stdout]:has-text('starting')", timeout=10_000)
    tab.shot("running")
    page.wait_for_selector("[data-testid=run-state] [data-state=succeeded]", timeout=15_000)
    page.wait_for_selector("[data-testid=stdout]:has-text('done')", timeout=10_000)
    tab.shot("succeeded")
    assert page.evaluate("() => window.sameDocument") is True, "the page was reloaded"
    page.locator("main").get_by_text('"slept": 1.5').first.wait_for()  # the run's result


def test_pause_and_resume(tab: Tab, server: Server) -> None:
    page = tab.login("operator").open("/dashboard/jobs/nightly-report")
    page.click("[data-action=pause]")
    page.click("#pause-dialog button[type=submit]")  # no note, no end
    page.wait_for_selector("[data-action=resume]")
    expect(page.locator(".page-head .tag:text('paused')")).to_have_count(1)
    with server.api() as admin:
        assert admin.get("/api/v1/jobs/nightly-report").json()["paused"] is True
    tab.shot("paused")
    page.click("[data-action=resume]")
    page.wait_for_selector("[data-action=pause]")
    with server.api() as admin:
        job = admin.get("/api/v1/jobs/nightly-report").json()
    assert job["paused"] is False and job["next_fire_at"]
    tab.open("/dashboard/jobs")
    row = page.locator("tr", has=page.locator("a:text-is('nightly-report')"))
    row.locator("[data-action=pause]").click()
    page.click("#pause-dialog button[type=submit]")
    row.locator("[data-action=resume]").wait_for()
    assert "paused" in row.inner_text()
    row.locator("[data-action=resume]").click()
    row.locator("[data-action=pause]").wait_for()


def test_retry_a_dead_letter_in_one_click(tab: Tab, server: Server) -> None:
    run_id = server.trigger("boom", "failed")["id"]
    page = tab.login("operator").open("/dashboard/dead-letters")
    row = page.locator("tr", has=page.locator(f"a:text-is('{run_id[-8:]}')"))
    row.locator("[data-action=retry]").click()
    retried = row.locator("a:has-text('retried as')")
    retried.wait_for()
    tab.shot("retried")
    new_id_tail = retried.inner_text().split()[-1]
    with server.api() as admin:
        runs = admin.get("/api/v1/runs", params={"job": "boom", "limit": 5}).json()["items"]
    assert any(r["id"].endswith(new_id_tail) and r["retry_of"] == run_id for r in runs)
