"""The filter forms of the Jobs and Runs lists: they offer every run state (from
``tss.core.states``, through the page's config), put the chosen filter in the URL, keep it
shown after applying, and list only what matches; the Overview counts every state."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.dashboard.conftest import Server, Tab
from tss.dashboard.pages import run_states

pytestmark = pytest.mark.slow
STATES = run_states()["all"]


@pytest.fixture(scope="module")
def runs(server: Server) -> dict[str, dict[str, Any]]:
    return {"failed": server.trigger("boom"), "succeeded": server.trigger("nightly-report")}


def query(tab: Tab) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(tab.page.url).query)


def test_the_runs_filter_puts_job_states_and_time_in_the_url(
    tab: Tab, runs: dict[str, dict[str, Any]]
) -> None:
    page = tab.login("viewer").open("/dashboard/runs")
    boxes = page.locator("form.filters fieldset.states input[type=checkbox]")
    assert boxes.evaluate_all("(all) => all.map((b) => b.value)") == STATES
    assert "timed out" in page.locator("form.filters fieldset.states").inner_text()
    page.fill("form.filters input[name=job]", "boom")
    for state in ("failed", "timed_out"):
        page.check(f"form.filters input[name=state][value={state}]")
    page.fill("form.filters input[name=since]", "2000-01-02T03:04")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboard/runs?*")
    got = query(tab)
    assert [pair for pair in got if pair[0] != "since"] == [
        ("job", "boom"), ("state", "failed"), ("state", "timed_out"),
    ]  # fmt: skip
    [since] = [value for key, value in got if key == "since"]
    assert since.startswith("2000-01-0") and since.endswith("Z"), since
    page.locator(f"a[href='/dashboard/runs/{runs['failed']['id']}']").wait_for()
    assert page.locator(f"a[href='/dashboard/runs/{runs['succeeded']['id']}']").count() == 0
    assert page.is_checked("form.filters input[name=state][value=failed]")
    assert page.input_value("form.filters input[name=job]") == "boom"
    assert page.input_value("form.filters input[name=since]") == "2000-01-02T03:04"
    tab.shot("runs-filtered")


def test_the_jobs_filter_offers_every_state_and_keeps_the_choice(
    tab: Tab, runs: dict[str, dict[str, Any]]
) -> None:
    page = tab.login("viewer").open("/dashboard/jobs")
    options = page.locator("form.filters select[name=last_state] option")
    assert options.evaluate_all("(all) => all.map((o) => o.value)") == ["", *STATES]
    assert options.first.inner_text() == "any"
    page.select_option("form.filters select[name=last_state]", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboard/jobs?*")
    assert query(tab) == [("last_state", "failed"), ("sort", "name")]
    page.locator("main table a:text-is('boom')").wait_for()
    assert page.locator("main table a:text-is('nightly-report')").count() == 0
    assert page.input_value("form.filters select[name=last_state]") == "failed"


def test_the_overview_counts_every_state(tab: Tab, runs: dict[str, dict[str, Any]]) -> None:
    page = tab.login("viewer").page
    for state in STATES:
        page.locator(f"[data-testid=count-{state}]").wait_for()
    assert page.locator("[data-testid=count-failed]").inner_text() != "0"
