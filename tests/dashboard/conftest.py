"""Fixtures of the dashboard tests: `tss server` as a subprocess and a real headless
Chromium (Debian's, driven by Playwright; never a downloaded browser).

Each test module gets its own server on a free port and its own SQLite file, so modules
run side by side (``pytest -n 4 --dist loadfile``). Screenshots go to
``test-artifacts/dashboard/`` (or ``$TSS_TEST_ARTIFACTS``), one file per test and page.
In CI a missing Chromium fails the tests; elsewhere they skip and say how to install it
(``tests/servers.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Project, new_project
from tests.servers import missing

CHROMIUM = "/usr/bin/chromium"
ADMIN = "dashboard-admin-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TSS_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "dashboard"
#: viewport sizes the pages are looked at in
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

TASKS = """\
import time


def ok(**kwargs):
    print("hello from ok", kwargs)
    return {"ok": True}


def slow(seconds=1.5, **kwargs):
    print("starting")
    time.sleep(seconds)
    print("done")
    return {"slept": seconds}


def boom(**kwargs):
    print("<b>about to fail</b>")
    raise ValueError("<img src=x onerror=alert(1)> broke")
"""

CONFIG = f"""\
store: {{url: "sqlite:///tss.db"}}
broker: {{url: "local://"}}
python_path: [jobs]
scheduler: {{max_sleep: 0.2s}}
worker: {{grace_period: 2s, heartbeat_interval: 0.5s, concurrency: 1}}
logging: {{level: WARNING}}
server: {{port: 0}}
api: {{admin_token: "{ADMIN}"}}
dashboard: {{title: "TSS test <dashboard>"}}
jobs:
  - name: nightly-report
    type: python
    params: {{function: "tasks:ok"}}
    schedule: {{cron: "0 2 * * *", timezone: Europe/Paris}}
  - name: publish
    type: noop
    depends_on: [{{job: nightly-report, on: success}}]
  - name: slow
    type: python
    params: {{function: "tasks:slow"}}
    overridable: [kwargs]
  - name: blocker
    type: python
    params: {{function: "tasks:slow", kwargs: {{seconds: 4}}}}
  - name: boom
    type: python
    params: {{function: "tasks:boom"}}
    description: "<img src=x onerror=alert(1)>"
"""


def _chromium_or_skip() -> None:
    if Path(CHROMIUM).exists():
        return
    missing(f"{CHROMIUM} is missing: install Debian's browser with `apt-get install chromium`")


@dataclass
class Server:
    """A running `tss server`: its URL, an admin API client and a token per role."""

    project: Project
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, token: str = ADMIN) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def trigger(self, job: str, state: str | None = None) -> dict[str, Any]:
        """Trigger ``job`` through the API and wait until its run is in ``state`` (or has
        ended, when ``state`` is None); the run as the API then shows it."""
        with self.api() as admin:
            run_id = admin.post(f"/api/v1/jobs/{job}/runs", json={}).json()["id"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                run: dict[str, Any] = admin.get(f"/api/v1/runs/{run_id}").json()
                if run["state"] == state or (state is None and run["finished_at"]):
                    return run
                time.sleep(0.1)
        raise AssertionError(f"run {run_id} of {job} never got to {state or 'an end'}")


@contextmanager
def serve(tmp_path_factory: pytest.TempPathFactory, config: str = CONFIG) -> Iterator[Server]:
    """`tss server` with ``config`` (the test jobs, a single worker slot) and a token per
    role; a test module with a config of its own overrides `server` with this."""
    project = new_project(tmp_path_factory.mktemp("dashboard"), config, {"jobs/tasks.py": TASKS})
    project.start("server")
    try:
        project.wait_for_log("press Ctrl+C", timeout=30)
        log = (project.root / "server.log").read_text()
        found = re.search(r"web +(https?://\S+?)/dashboard", log)
        assert found, log
        running = Server(project, found.group(1))
        with running.api() as admin:
            for role in ("viewer", "operator"):
                made = admin.post("/api/v1/tokens", json={"name": f"ui-{role}", "role": role})
                assert made.status_code == 201, made.text
                running.tokens[role] = made.json()["token"]
        running.tokens["admin"] = ADMIN
        yield running
    finally:
        project.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`tss server` with the test jobs, a single worker slot and tokens per role."""
    with serve(tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, started by Playwright (which downloads nothing)."""
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
            ],
        )  # fmt: skip
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """A browser page that records console errors, failed requests and dialogs, and
    saves screenshots under the test's own folder."""

    def __init__(self, context: Any, server: Server, folder: Path) -> None:
        self.server = server
        self.page = context.new_page()
        self.folder = folder
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console {message.type}: {message.text} ({self.page.url})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def open(self, path: str) -> Any:
        """Go to a dashboard path and wait until the page has drawn its heading."""
        self.page.goto(self.server.url + path)
        self.page.wait_for_selector("main h1")
        return self.page

    def login(self, role: str) -> Tab:
        self.page.goto(self.server.url + "/dashboard")
        self.page.fill("#token", self.server.tokens[role])
        self.page.click("form.login button[type=submit]")
        self.page.wait_for_selector("main h1:text('Overview')")
        return self

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot as ``<test folder>/<name>.png``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.png"
        self.page.wait_for_load_state("networkidle")
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def tab(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[Tab]:
    """A fresh browser context (no cookies) at laptop width; at the end of the test the
    page must have logged no console error and opened no dialog."""
    context = browser.new_context(viewport=LAPTOP)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder = ARTIFACTS / f"{Path(str(request.node.fspath)).stem}" / name
    shutil.rmtree(folder, ignore_errors=True)
    opened = Tab(context, server, folder)
    try:
        yield opened
        assert not opened.dialogs, f"a dialog opened: {opened.dialogs}"
        assert not opened.errors, "\n".join(opened.errors)
    finally:
        context.close()
