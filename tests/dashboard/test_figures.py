"""What the dashboard says about stalls and capacity: a queued run no live worker can take
says why it waits (run page and Runs list), and the Workers page shows each worker's
memory in MiB or GiB (the API gives MB; they were once divided as bytes: "0 MiB")."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.conftest import Server, Tab

pytestmark = pytest.mark.slow


def test_a_run_no_worker_can_take_says_why_it_waits(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        made = admin.post("/api/v1/jobs", json={"name": "gpu-only", "type": "noop", "pool": "gpu"})
        assert made.status_code == 201, made.text
    run = server.trigger("gpu-only", "queued")
    why = "Waiting: no live worker serves pool 'gpu'."
    page = tab.login("viewer").open(f"/dashboard/runs/{run['id']}")
    page.wait_for_selector("[data-testid=reason]")
    assert page.locator("[data-testid=reason]").inner_text() == why
    tab.shot("waiting-run")
    tab.open("/dashboard/runs")
    page.locator("main").get_by_text(why).first.wait_for()


def _human(mib: int) -> str:
    return f"{mib:,} MiB" if mib < 1024 else f"{mib / 1024:.1f} GiB"


def test_the_workers_page_shows_memory_in_a_human_unit(tab: Tab, server: Server) -> None:
    with server.api() as admin:
        [worker] = admin.get("/api/v1/workers").json()["items"]
    assert worker["memory"] > 0  # MB of 2^20 bytes, as the worker read them from the system
    page = tab.login("viewer").open("/dashboard/workers")
    row = page.locator("tr", has=page.locator(f"td:text-is('{worker['id']}')"))
    text = row.inner_text()
    assert _human(worker["memory"]) in text, text
    assert not re.search(r"\b0 MiB", text), text
    tab.shot("workers")
