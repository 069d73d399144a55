"""Flows in a real browser: the Flows page lists a flow run live, the run page draws the
flow's graph with each job in its run's state (a skipped job says why), a viewer sees no
Cancel flow button, and an operator cancels a flow whose middle job is running."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import ARTIFACTS, LAPTOP, Server, Tab

pytestmark = pytest.mark.slow
GRAPH = "[data-testid=flow-graph]"


def make_jobs(admin: httpx.Client, *jobs: dict[str, Any]) -> None:
    for job in jobs:
        made = admin.post("/api/v1/jobs", json=job)
        assert made.status_code == 201, made.text


def wait_flow(admin: httpx.Client, flow_id: str, until: Any, timeout: float = 30) -> dict[str, Any]:
    """The flow run once ``until(flow)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        flow: dict[str, Any] = admin.get(f"/api/v1/flows/{flow_id}").json()
        if until(flow):
            return flow
        assert time.monotonic() < deadline, f"the flow never got there: {flow['runs']}"
        time.sleep(0.1)


def node(tab: Tab, job: str) -> Any:
    return tab.page.locator(f"{GRAPH} a[data-job='{job}']")


@pytest.fixture
def second_tab(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[Tab]:
    """Another browser context (its own cookies), checked for console errors like `tab`."""
    context = browser.new_context(viewport=LAPTOP)
    folder = ARTIFACTS / "test_flows" / f"{request.node.name}-second"
    opened = Tab(context, server, folder)
    try:
        yield opened
        assert not opened.dialogs, f"a dialog opened: {opened.dialogs}"
        assert not opened.errors, "\n".join(opened.errors)
    finally:
        context.close()


def test_a_failed_flow_is_listed_and_drawn_with_its_states(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        make_jobs(
            admin,
            {"name": "extract", "type": "python", "params": {"function": "tasks:ok"}},
            {
                "name": "transform",
                "type": "python",
                "params": {"function": "tasks:boom"},
                "depends_on": ["extract"],
            },
            {"name": "load", "type": "noop", "depends_on": [{"job": "transform", "on": "success"}]},
            {
                "name": "cleanup",
                "type": "noop",
                "depends_on": [{"job": "transform", "on": "failure"}],
            },
        )
    page = tab.login("viewer").open("/dashboard/flows")
    assert page.locator("main h1").inner_text() == "Flows"
    expect(page.locator("nav a:text-is('Flows')")).to_have_count(1)
    with server.api() as admin:
        root = admin.post("/api/v1/jobs/extract/runs", json={}).json()
        flow = wait_flow(admin, root["id"], lambda f: f["state"] != "running")
    assert flow["state"] == "failed"
    # Listed live, without a reload.
    row = page.locator("tr", has=page.locator("a:text-is('extract')"))
    row.locator("[data-testid=flow-state] [data-state=failed]").wait_for(timeout=10_000)
    counts = row.locator("[data-testid=flow-counts]")
    assert counts.locator("[data-count=succeeded]").inner_text().startswith("2")
    assert counts.locator("[data-count=failed]").inner_text().startswith("1")
    assert counts.locator("[data-count=skipped]").inner_text().startswith("1")
    tab.shot("flows")

    row.locator(f"a[href='/dashboard/runs/{root['id']}']").click()
    page.wait_for_selector(f"{GRAPH} a[data-job=load]")
    states = {job: node(tab, job).get_attribute("data-state") for job in
              ("extract", "transform", "load", "cleanup")}  # fmt: skip
    assert states == {
        "extract": "succeeded",
        "transform": "failed",
        "load": "skipped",
        "cleanup": "succeeded",
    }
    # The state in words on the node, and the skip's reason on hover and beside the graph.
    assert "skipped" in node(tab, "load").locator("text.node-note").text_content() or ""
    title = node(tab, "load").locator("title").text_content() or ""
    assert "parent 'transform' ended failed (needs success)" in title
    assert "load skipped: parent 'transform' ended failed" in page.inner_text(f"{GRAPH} .skips")
    assert page.locator("[data-testid=flow-state]").inner_text() == "failed"
    # Nodes link to their runs.
    load_run = next(r for r in flow["runs"] if r["job"] == "load")
    assert node(tab, "load").get_attribute("href") == f"/dashboard/runs/{load_run['id']}"
    assert page.locator("[data-action=cancel-flow]").count() == 0
    tab.shot("run-flow-graph")
    node(tab, "load").click()
    page.wait_for_selector("[data-testid=run-state] [data-state=skipped]")
    assert "parent 'transform' ended failed" in page.inner_text("[data-testid=reason]")
    page.wait_for_selector(f"{GRAPH} a[data-job=load] rect.current")
    tab.shot("skipped-run")

    # The job page draws the same graph from the API's flow route, edges by condition.
    tab.open("/dashboard/jobs/extract")
    page.wait_for_selector("svg.graph a[data-job=cleanup]")
    expect(page.locator("svg.graph a")).to_have_count(4)
    expect(page.locator("svg.graph path.edge.on-failure")).to_have_count(1)
    expect(page.locator("svg.graph path.edge.on-success")).to_have_count(2)
    tab.shot("job-flow-graph")


def test_a_viewer_sees_no_cancel_and_an_operator_cancels_a_running_flow(
    tab: Tab, second_tab: Tab, server: Server
) -> None:
    with server.api() as admin:
        make_jobs(
            admin,
            {"name": "fetch", "type": "python", "params": {"function": "tasks:ok"}},
            {
                "name": "crunch",
                "type": "python",
                "params": {"function": "tasks:slow", "kwargs": {"seconds": 60}},
                "depends_on": ["fetch"],
            },
            {"name": "ship", "type": "noop", "depends_on": ["crunch"]},
        )
        root = admin.post("/api/v1/jobs/fetch/runs", json={}).json()
        wait_flow(admin, root["id"], lambda f: {"crunch": "running"}.items() <= by_job(f).items())
    path = f"/dashboard/runs/{root['id']}"

    viewer = tab.login("viewer").open(path)
    viewer.wait_for_selector(f"{GRAPH} a[data-job=crunch][data-state=running]")
    assert viewer.locator("[data-testid=flow-state]").inner_text() == "running"
    assert viewer.locator("[data-action=cancel-flow]").count() == 0
    assert node(tab, "ship").get_attribute("data-state") == "waiting"
    tab.shot("viewer-running-flow")

    page = second_tab.login("operator").open(path)
    page.wait_for_selector(f"{GRAPH} a[data-job=crunch][data-state=running]")
    second_tab.shot("operator-running-flow")
    page.click("[data-action=cancel-flow]")
    page.wait_for_selector("[data-testid=flow-state] [data-state=cancelled]", timeout=10_000)
    for job in ("crunch", "ship"):
        page.wait_for_selector(f"{GRAPH} a[data-job={job}][data-state=cancelled]", timeout=10_000)
    assert node(second_tab, "fetch").get_attribute("data-state") == "succeeded"
    assert page.locator("[data-action=cancel-flow]").count() == 0
    assert "Cancel flow: done" in page.inner_text("#banner")
    second_tab.shot("cancelled-flow")
    # The viewer's page follows live.
    viewer.wait_for_selector(f"{GRAPH} a[data-job=crunch][data-state=cancelled]", timeout=10_000)
    viewer.wait_for_selector("[data-testid=flow-state] [data-state=cancelled]")
    tab.shot("viewer-cancelled-flow")
    with server.api() as admin:
        flow = admin.get(f"/api/v1/flows/{root['id']}").json()
    assert flow["state"] == "cancelled"
    assert by_job(flow) == {"fetch": "succeeded", "crunch": "cancelled", "ship": "cancelled"}


def by_job(flow: dict[str, Any]) -> dict[str, str]:
    return {run["job"]: run["state"] for run in flow["runs"]}
