"""The dashboard in a real browser: logging in, every page drawn without a console error
(screenshots at laptop and phone width), a cron job's next run, a failure's reason, text
that looks like HTML shown as text, and a viewer that can look but not act."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import PHONE, Server, Tab

pytestmark = pytest.mark.slow
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def failed(server: Server) -> dict[str, Any]:
    return server.trigger("boom")


@pytest.fixture(scope="module")
def succeeded(server: Server) -> dict[str, Any]:
    return server.trigger("nightly-report")


def test_login_and_every_page(tab: Tab, failed: dict[str, Any], succeeded: dict[str, Any]) -> None:
    page = tab.page
    page.goto(tab.server.url + "/dashboard/jobs")
    page.wait_for_selector("#token")
    tab.shot("login")
    page.fill("#token", "tss_nope_wrong")
    page.click("form.login button[type=submit]")
    page.wait_for_selector("form.login .error:text('not valid')")
    tab.errors.clear()  # the refused login is a 401 the browser logs: expected here
    page.fill("#token", tab.server.tokens["admin"])
    page.click("form.login button[type=submit]")
    page.wait_for_selector("main h1:text('Jobs')")
    pages = {
        "overview": ("/dashboard", "Overview"),
        "jobs": ("/dashboard/jobs", "Jobs"),
        "job": ("/dashboard/jobs/nightly-report", "nightly-report"),
        "runs": ("/dashboard/runs", "Runs"),
        "flows": ("/dashboard/flows", "Flows"),
        "run-failed": (f"/dashboard/runs/{failed['id']}", "Run"),
        "run-succeeded": (f"/dashboard/runs/{succeeded['id']}", "Run"),
        "timeline": ("/dashboard/timeline", "Timeline"),
        "upcoming": ("/dashboard/upcoming", "Upcoming"),
        "workers": ("/dashboard/workers", "Workers"),
        "dead-letters": ("/dashboard/dead-letters", "Dead letters"),
        "alerts": ("/dashboard/alerts", "Alerts"),
    }
    for name, (path, heading) in pages.items():
        assert heading in tab.open(path).inner_text("main h1")
        tab.shot(name)
    page.set_viewport_size(PHONE)
    for name in ("overview", "jobs", "run-failed"):
        tab.open(pages[name][0])
        assert page.is_visible("button.menu-toggle")
        tab.shot(f"{name}-phone")
    page.click("button.menu-toggle")
    page.click("nav a:text('Runs')")
    page.wait_for_selector("main h1:text('Runs')")


def test_a_cron_job_shows_its_schedule_and_next_run(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        job = admin.get("/api/v1/jobs/nightly-report").json()
    next_utc = datetime.fromisoformat(job["next_fire_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    page = tab.login("viewer").open("/dashboard/jobs")
    row = page.locator("tr", has=page.locator("a:text-is('nightly-report')"))
    text = row.inner_text()
    assert "every day at 02:00 (Europe/Paris)" in text
    assert "cron 0 2 * * * Europe/Paris" in text
    assert next_utc in text
    tab.shot("jobs")
    tab.open("/dashboard/jobs/nightly-report")
    assert next_utc in page.inner_text("ol.times li:first-child")
    expect(page.locator("ol.times li")).to_have_count(10)
    expect(page.locator("svg.graph a")).to_have_count(2)  # nightly-report -> publish
    tab.shot("job")


def test_a_failed_run_says_why_before_its_traceback(tab: Tab, failed: dict[str, Any]) -> None:
    page = tab.login("viewer").open(f"/dashboard/runs/{failed['id']}")
    reason = page.locator("[data-testid=reason]")
    assert reason.inner_text() == f"ValueError: {XSS} broke"
    traceback = page.locator("[data-testid=traceback]")
    assert "Traceback (most recent call last)" in traceback.inner_text()
    before = page.evaluate(
        "() => document.querySelector('[data-testid=reason]').compareDocumentPosition("
        "document.querySelector('[data-testid=traceback]')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    assert before, "the reason in words comes before the traceback"
    page.wait_for_selector("[data-testid=stdout]:has-text('about to fail')")
    assert page.locator("[data-testid=run-state]").inner_text() == "failed"
    tab.shot("failed-run")
    tab.open("/dashboard")
    # the overview's recent failures load after the page: wait for them, then read
    page.locator("main").get_by_text(f"ValueError: {XSS} broke").first.wait_for()
    assert f"ValueError: {XSS} broke" in page.inner_text("main")


def test_user_text_that_looks_like_html_is_shown_as_text(
    tab: Tab, server: Server, failed: dict[str, Any]
) -> None:
    with server.api() as admin:
        refused = admin.post("/api/v1/jobs", json={"name": XSS, "type": "noop"})
    assert refused.status_code == 422  # job names cannot hold markup at all
    page = tab.login("admin").open("/dashboard/jobs")
    assert XSS in page.locator("tr", has=page.locator("a:text-is('boom')")).inner_text()
    for path in ("/dashboard/jobs", "/dashboard/jobs/boom", f"/dashboard/runs/{failed['id']}",
                 "/dashboard/dead-letters", "/dashboard/alerts", "/dashboard"):  # fmt: skip
        tab.open(path)
        page.wait_for_load_state("networkidle")
        assert page.locator("main img").count() == 0, path
        assert page.locator("main b").count() == 0, path
    tab.shot("dead-letters")


def test_a_viewer_sees_no_action_and_the_server_refuses_one(
    tab: Tab, failed: dict[str, Any]
) -> None:
    page = tab.login("viewer").page
    for path in ("/dashboard/jobs", "/dashboard/jobs/slow", f"/dashboard/runs/{failed['id']}",
                 "/dashboard/dead-letters", "/dashboard/alerts"):  # fmt: skip
        tab.open(path)
        page.wait_for_load_state("networkidle")
        assert page.locator("[data-action]").count() == 0, path
        assert page.locator("button:text('Run now')").count() == 0, path
    tab.shot("viewer-run")
    status = page.evaluate(
        """async () => {
            const session = await (await fetch('/dashboard/session')).json();
            const response = await fetch('/api/v1/jobs/slow/pause', {
                method: 'POST', headers: {[session.csrf_header]: session.csrf}});
            return [response.status, (await response.json()).error.code];
        }"""
    )
    assert status == [403, "forbidden"]
    tab.errors.clear()  # the refused request is logged by the browser: expected here


def test_log_out_and_in_again_and_a_page_that_does_not_exist(tab: Tab) -> None:
    page = tab.login("operator").open("/dashboard/nowhere")
    assert page.inner_text("main h1") == "Not here"
    assert page.locator("nav [aria-current=page]").count() == 0
    page.click("#who button:text('Log out')")
    page.wait_for_selector("form.login .error:text('You are logged out.')")
    assert page.locator("#who").inner_text() == ""
    page.fill("#token", tab.server.tokens["operator"])
    page.click("form.login button[type=submit]")
    page.wait_for_selector("main h1:text('Not here')")
    assert "operator" in page.locator("#who").inner_text()
    page.click("nav a:text('Workers')")
    page.wait_for_selector("main h1:text('Workers')")
    assert page.locator("nav [aria-current=page]").inner_text() == "Workers"
