"""Alerts in a real browser: the Alerts page lists what was raised (a test message and a
failed run's alert, its job linked, its text on opening it) and filters it; an operator
silences a job from its page (a wrong duration or time is refused, naming the field),
finds the silence on the Alerts page and ends it there; a viewer sees silences but no
button, and the server refuses one anyway."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import CONFIG, Server, Tab, serve
from tss.core.alerts import ALERT_STATES

pytestmark = pytest.mark.slow
XSS = "<img src=x onerror=alert(1)>"
#: the test jobs, with a log channel and an alert each time `boom` fails (repeat_after
#: 1s: a failure seconds after the last one is alerted on again, not grouped with it)
ALERTS_CONFIG = (
    CONFIG
    + """\
alerts:
  channels: {log: {type: log, level: info}}
  rules: [{on: failed, jobs: [boom], channels: [log]}]
  repeat_after: 1s
"""
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The dashboard tests' server, alerting through a log channel."""
    with serve(tmp_path_factory, ALERTS_CONFIG) as running:
        yield running


def wait_alerts(server: Server, until: Any, timeout: float = 30, **query: str) -> list[Any]:
    """The alerts ``GET /api/v1/alerts?<query>`` lists once ``until(items)`` holds."""
    deadline = time.monotonic() + timeout
    with server.api() as admin:
        while True:
            items: list[Any] = admin.get("/api/v1/alerts", params=query).json()["items"]
            if until(items):
                return items
            assert time.monotonic() < deadline, f"no such alert came: {items}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def raised(server: Server) -> dict[str, Any]:
    """A test message through `log`, and the alert of a failed run of `boom`."""
    with server.api() as admin:
        test = admin.post("/api/v1/alerts/test", json={"channel": "log"})
    assert test.status_code == 201, test.text
    run = server.trigger("boom", "failed")
    failed = wait_alerts(
        server,
        lambda items: any(a["run_id"] == run["id"] and a["state"] == "delivered" for a in items),
        job="boom",
    )
    return {"test": test.json(), "failed": next(a for a in failed if a["run_id"] == run["id"])}


def row_of(tab: Tab, alert: dict[str, Any]) -> Any:
    return tab.page.locator("tr", has=tab.page.locator(f"details[data-alert='{alert['id']}']"))


def test_the_alerts_page_lists_what_was_raised(tab: Tab, raised: dict[str, Any]) -> None:
    failed, sent = raised["failed"], raised["test"]
    page = tab.login("viewer").page
    page.click("nav a:text-is('Alerts')")
    page.wait_for_selector("main h1:text('Alerts')")
    assert page.locator("nav [aria-current=page]").inner_text() == "Alerts"
    row = row_of(tab, failed)
    row.wait_for()
    cells = row.locator("td")
    assert [cells.nth(i).get_attribute("data-label") for i in range(7)] == [
        "When", "Kind", "Job", "Channel", "State", "Attempts", "Subject",
    ]  # fmt: skip
    assert cells.nth(1).inner_text() == "failed"
    assert cells.nth(3).inner_text() == "log"
    expect(row.locator("[data-alert-state]")).to_have_attribute("data-alert-state", failed["state"])
    assert cells.nth(6).inner_text().strip() == failed["subject"]
    job_link = row.locator("a:text-is('boom')")
    assert job_link.get_attribute("href") == "/dashboard/jobs/boom"
    test_row = row_of(tab, sent)
    expect(test_row.locator("[data-alert-state=delivered]")).to_have_count(1)
    assert test_row.locator("td[data-label=Job]").inner_text().strip() == "—"
    # the text (and the run) on opening the subject; markup in it stays text
    row.locator("summary").click()
    text = row.locator("[data-testid=alert-text]")
    expect(text).to_be_visible()
    assert text.inner_text().strip() == failed["text"].strip()
    assert row.locator(f"a[href='/dashboard/runs/{failed['run_id']}']").count() == 1
    page.wait_for_load_state("networkidle")
    assert page.locator("main img").count() == 0
    assert page.locator("main [data-action]").count() == 0  # a viewer acts on nothing
    tab.shot("alerts")
    job_link.click()
    page.wait_for_selector("main h1:text('boom')")
    alerts = page.locator("[data-testid=job-alerts]")
    expect(alerts.locator(f"details[data-alert='{failed['id']}']")).to_have_count(1)
    tab.shot("job-alerts")


def test_the_filters_go_in_the_url(tab: Tab, raised: dict[str, Any]) -> None:
    page = tab.login("viewer").open("/dashboard/alerts")
    page.fill("form.filters input[name=job]", "boom")
    page.select_option("form.filters select[name=state]", raised["failed"]["state"])
    page.fill("form.filters input[name=channel]", "log")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboard/alerts?*")
    assert sorted(parse_qsl(urlsplit(page.url).query)) == sorted(
        [("job", "boom"), ("state", raised["failed"]["state"]), ("channel", "log")]
    )
    row_of(tab, raised["failed"]).wait_for()
    expect(row_of(tab, raised["test"])).to_have_count(0)
    options = page.locator("form.filters select[name=state] option")
    assert options.all_inner_texts() == ["any", *ALERT_STATES]
    tab.open("/dashboard/alerts?job=nightly-report")
    page.wait_for_selector("main p.empty:text('No alert matches.')")


def test_an_operator_silences_a_job_and_ends_it(
    tab: Tab, server: Server, raised: dict[str, Any]
) -> None:
    page = tab.login("operator").open("/dashboard/jobs/boom")
    page.click("[data-action=silence]")
    dialog = page.locator("dialog[open]")
    dialog.locator("#silence-duration").fill("soon")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator("[data-testid=silence-error]")).to_contain_text("duration:")
    expect(dialog.locator("#silence-duration")).to_have_attribute("aria-invalid", "true")
    dialog.locator("#silence-until").fill("2020-01-01T00:00")  # the server says no
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator("[data-testid=silence-error]")).to_contain_text(
        "until must be in the future"
    )
    expect(dialog.locator("#silence-until")).to_have_attribute("aria-invalid", "true")
    tab.errors.clear()  # the refused PUT (422) is logged by the browser: expected here
    dialog.locator("#silence-until").fill("")
    dialog.locator("#silence-duration").fill("2h")
    dialog.locator("#silence-note").fill(f"deploy {XSS}")
    tab.shot("silence-dialog")
    dialog.locator("button[type=submit]").click()
    line = page.locator("[data-testid=silenced]")
    expect(line).to_contain_text("Alerts silenced until")
    expect(line).to_contain_text(f"by token:ui-operator (deploy {XSS})")
    assert page.locator("main img").count() == 0
    expect(page.locator("[data-action=silence]")).to_have_count(0)
    with server.api() as admin:
        (silence,) = admin.get("/api/v1/silences").json()["items"]
    until = datetime.fromisoformat(silence["until"])
    assert timedelta(hours=1, minutes=58) < until - datetime.now(UTC) <= timedelta(hours=2)
    assert (silence["job"], silence["note"]) == ("boom", f"deploy {XSS}")
    tab.shot("silenced")
    # its alerts are now kept as silenced, and the job page shows them so
    run = server.trigger("boom", "failed")
    wait_alerts(server, lambda items: any(a["run_id"] == run["id"] for a in items), job="boom")
    tab.open("/dashboard/jobs/boom")
    expect(page.locator("[data-testid=job-alerts] [data-alert-state=silenced]")).to_have_count(1)
    # the Alerts page lists the silence; End silence ends it
    tab.open("/dashboard/alerts")
    silences = page.locator("[data-testid=silences]")
    row = silences.locator("tr", has=page.locator("a:text-is('boom')"))
    expect(row).to_contain_text("token:ui-operator")
    expect(row).to_contain_text(f"deploy {XSS}")
    tab.shot("silences")
    row.locator("[data-action=end-silence]").click()
    expect(silences).to_contain_text("No job is silenced.")
    with server.api() as admin:
        assert admin.get("/api/v1/silences").json()["items"] == []
    tab.open("/dashboard/jobs/boom")
    expect(page.locator("[data-action=silence]")).to_have_count(1)
    expect(page.locator("[data-testid=silenced]")).to_have_count(0)


def test_an_operator_ends_a_silence_from_the_job_page(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        made = admin.put("/api/v1/jobs/publish/silence", json={"duration": 600, "note": "x"})
    assert made.status_code == 200, made.text
    page = tab.login("operator").open("/dashboard/jobs/publish")
    expect(page.locator("[data-testid=silenced]")).to_contain_text(f"by {made.json()['by']} (x)")
    page.click("[data-testid=silence] [data-action=end-silence]")
    page.wait_for_selector("[data-action=silence]")
    with server.api() as admin:
        assert admin.get("/api/v1/silences").json()["items"] == []


def test_a_viewer_sees_a_silence_but_no_button(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        made = admin.put("/api/v1/jobs/slow/silence", json={"duration": 3600, "note": "quiet"})
    assert made.status_code == 200, made.text
    try:
        page = tab.login("viewer").open("/dashboard/jobs/slow")
        expect(page.locator("[data-testid=silenced]")).to_contain_text("(quiet)")
        assert page.locator("[data-action]").count() == 0
        assert page.locator("button:text('Silence alerts')").count() == 0
        tab.open("/dashboard/alerts")
        row = page.locator("[data-testid=silences] tr", has=page.locator("a:text-is('slow')"))
        expect(row).to_contain_text("quiet")
        page.wait_for_load_state("networkidle")
        assert page.locator("[data-action]").count() == 0
        assert page.locator("button:text('End silence')").count() == 0
        tab.shot("viewer-silences")
        status = page.evaluate(
            """async () => {
                const session = await (await fetch('/dashboard/session')).json();
                const response = await fetch('/api/v1/jobs/slow/silence', {
                    method: 'DELETE', headers: {[session.csrf_header]: session.csrf}});
                return [response.status, (await response.json()).error.code];
            }"""
        )
        assert status == [403, "forbidden"]
        tab.errors.clear()  # the refused request is logged by the browser: expected here
    finally:
        with server.api() as admin:
            admin.delete("/api/v1/jobs/slow/silence")
