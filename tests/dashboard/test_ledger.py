"""The fire ledger in a real browser: a job's Fires card shows a strip where fires made and
fires paused stand apart, and the list in words; the timeline marks the paused fires; the
Upcoming page charts the load per minute; an admin backfills from a job's page (the dry run
lists the fires first, the confirm makes them), and a viewer has no such button; the job's
backfills are listed there, and an operator stops an active one (a viewer cannot)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import CONFIG, Server, Tab, serve

pytestmark = pytest.mark.slow
#: the test jobs and one firing every two seconds; a fire over a second late is dropped
#: (misfire skip), so the fires of a pause stay without a run
LEDGER_CONFIG = (
    CONFIG
    + """\
  - name: ticker
    type: noop
    schedule: {cron: "*/2 * * * * *", misfire: skip, misfire_grace: 1}
  - name: drip
    type: noop
    pool: nobody
    schedule: "0 3 * * *"
"""
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory, LEDGER_CONFIG) as running:
        yield running


def fires(admin: Any, job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.get(f"/api/v1/jobs/{job}/fires").json()["fires"]
    return found


@pytest.fixture(scope="module")
def paused_a_while(server: Server) -> None:
    """ticker fires, is paused for a few seconds with a note, and fires again."""
    with server.api() as admin:
        deadline = time.monotonic() + 30
        while sum(f["status"] == "fired" for f in fires(admin, "ticker")) < 2:
            assert time.monotonic() < deadline, fires(admin, "ticker")
            time.sleep(0.3)
        made = admin.post("/api/v1/jobs/ticker/pause", json={"note": "deploy"})
        assert made.status_code == 200, made.text
        time.sleep(5)
        assert admin.post("/api/v1/jobs/ticker/resume").status_code == 200
        time.sleep(3)
        statuses = [f["status"] for f in fires(admin, "ticker")]
        assert "paused" in statuses and statuses.count("fired") >= 3, statuses


def test_the_fires_card_shows_gaps_at_a_glance(tab: Tab, paused_a_while: None) -> None:
    page = tab.login("viewer").open("/dashboard/jobs/ticker")
    card = page.locator("[data-testid=fires]")
    card.locator("svg.fire-strip").wait_for()
    strip = card.locator("svg.fire-strip")
    expect(strip.locator("rect[data-status=fired]").first).to_be_visible()
    assert strip.locator("rect[data-status=paused]").count() >= 1
    assert strip.locator("rect[data-status=fired]").count() >= 3
    counts = card.locator("[data-testid=fire-counts]").inner_text()
    assert "fired" in counts and "paused" in counts
    row = card.locator("tr", has=page.locator("span.fire-status.fs-paused")).first
    expect(row).to_contain_text('("deploy")')
    expect(row).to_contain_text("paused: the job was paused by token:")
    # a paused fire is taller than a made one: a gap stands out
    paused = strip.locator("rect[data-status=paused]").first
    fired = strip.locator("rect[data-status=fired]").first
    assert float(paused.get_attribute("height") or 0) > float(fired.get_attribute("height") or 0)
    assert card.locator("[data-action=backfill]").count() == 0  # a viewer may not backfill
    tab.shot("fires")


def test_the_timeline_marks_paused_fires(tab: Tab, paused_a_while: None) -> None:
    page = tab.login("viewer").open("/dashboard/timeline?window=3600")
    page.locator("svg.gantt").wait_for()
    expect(page.locator("svg.gantt rect.fs-paused").first).to_be_attached()


def test_upcoming_charts_the_load_per_minute(tab: Tab) -> None:
    page = tab.login("viewer").page
    page.click("nav a:text-is('Upcoming')")
    page.wait_for_selector("main h1:text('Upcoming')")
    body = page.locator("[data-testid=upcoming]")
    expect(body.locator("[data-testid=upcoming-total]")).to_contain_text(
        "fire(s) in the next 24 hour(s)"
    )
    expect(body.locator("svg.chart rect").first).to_be_attached()
    busiest = body.locator("table").first.locator("tbody tr").first.locator("td").nth(1)
    assert int(busiest.inner_text()) >= 30  # ticker: every two seconds
    page.click("button.chip:text-is('1 hour')")
    page.wait_for_url("**/dashboard/upcoming?hours=1")
    expect(body.locator("[data-testid=upcoming-total]")).to_contain_text("next 1 hour(s)")
    tab.shot("upcoming")


def test_an_admin_backfills_after_a_dry_run(tab: Tab, server: Server) -> None:
    page = tab.login("admin").open("/dashboard/jobs/nightly-report")
    page.locator("[data-testid=fires] svg.fire-strip").wait_for()
    page.click("[data-action=backfill]")
    dialog = page.locator("dialog[open]")
    dialog.locator("#bf-from").fill("2026-11-01T00:00")
    dialog.locator("#bf-to").fill("2026-11-04T00:00")
    confirm = dialog.locator("[data-action=confirm-backfill]")
    expect(confirm).to_be_disabled()
    dialog.locator("[data-action=dry-run]").click()
    preview = dialog.locator("[data-testid=backfill-preview]")
    expect(preview).to_contain_text("3 fire(s) would be made")
    assert preview.locator("li").count() == 3
    with server.api() as admin:  # the dry run made nothing
        assert admin.get("/api/v1/runs", params={"job": "nightly-report"}).json()["items"] == []
    expect(confirm).to_have_text("Backfill 3 fire(s)")
    confirm.click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    with server.api() as admin:
        deadline = time.monotonic() + 10
        while True:
            runs = admin.get("/api/v1/runs", params={"job": "nightly-report"}).json()["items"]
            if len(runs) == 3:
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.2)
    assert sorted(r["scheduled_for"][:10] for r in runs) == [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
    ]
    assert {r["trigger"] for r in runs} == {"schedule"}


@pytest.fixture(scope="module")
def drip_backfill(server: Server) -> str:
    """A backfill of drip one fire at a time: its runs wait in a pool no worker serves, so
    it stays active (1 of 3 made)."""
    with server.api() as admin:
        body = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-04T00:00:00Z", "max_active": 1}
        made = admin.post("/api/v1/jobs/drip/backfill", json=body)
        assert made.status_code == 200, made.text
        backfill_id: str = made.json()["backfill"]["id"]
        return backfill_id


def test_a_viewer_sees_the_backfills_but_cannot_stop_one(tab: Tab, drip_backfill: str) -> None:
    page = tab.login("viewer").open("/dashboard/jobs/drip")
    listed = page.locator("[data-testid=fires] [data-testid=backfills]")
    row = listed.locator("tr", has=page.locator(f"code[title='{drip_backfill}']"))
    expect(row.locator("[data-state=active]")).to_have_text("active")
    expect(row.locator("[data-testid=backfill-made]")).to_have_text("1/3")
    assert listed.locator("[data-action=stop-backfill]").count() == 0


def test_an_operator_stops_an_active_backfill(tab: Tab, server: Server, drip_backfill: str) -> None:
    page = tab.login("operator").open("/dashboard/jobs/drip")
    row = page.locator(
        "[data-testid=backfills] tr", has=page.locator(f"code[title='{drip_backfill}']")
    )
    expect(row.locator("[data-testid=backfill-made]")).to_have_text("1/3")
    row.locator("[data-action=stop-backfill]").click()
    expect(row.locator("[data-state=stopped]")).to_have_text("stopped")
    expect(row.locator("[data-action=stop-backfill]")).to_have_count(0)
    tab.shot("backfill-stopped")
    with server.api() as admin:
        [record] = admin.get("/api/v1/jobs/drip/backfills").json()["items"]
        assert (record["state"], record["made"]) == ("stopped", 1)
        audit = admin.get("/api/v1/audit", params={"action": "job.backfill.stop"})
        [entry] = audit.json()["items"]
        assert entry["actor"] == "token:ui-operator" and entry["target"] == "drip"
