"""Alerts from a real ``tss server`` to a local SMTP server (aiosmtpd) and a local HTTP
receiver: a failing job sends exactly one email, one Slack message and one signed webhook,
and one recovery of each; a server killed (SIGKILL) across a fire time gives one `missed`
alert once it is back; a server killed while it delivers sends again with the same id, and
the alert is recorded delivered once."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import Project, wait_until
from tests.integration.receiver import Receiver, receiving
from tests.integration.smtp import FreePortController
from tss.alerts.channels import signature

pytestmark = pytest.mark.slow

ADMIN = "alerts-admin-token-0123456789abcdef"
SECRET = "e2e-signing-secret"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content.decode())
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    def __init__(self, project: Project, port: int) -> None:
        self.project = project
        self.url = f"http://127.0.0.1:{port}"
        self.admin = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
        )
        self.proc = self.start()

    def start(self) -> Any:
        proc = self.project.start("server")

        def ready() -> bool:
            try:
                return self.admin.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 30, "the server to be ready", self.log)
        return proc

    def log(self) -> str:
        return (self.project.root / "server.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Served, Receiver, Mailbox]]:
    box = Mailbox()
    controller = FreePortController(box, hostname="127.0.0.1", port=0)
    controller.start()
    port = _free_port()
    with receiving() as receiver:
        config = {
            "store": {"url": "sqlite:///tss.db"},
            "broker": {"url": "local://"},
            "server": {"host": "127.0.0.1", "port": port},
            "api": {"admin_token": ADMIN},
            "scheduler": {"max_sleep": "0.2s"},
            "logging": {"level": "INFO"},
            "alerts": {
                "link": "https://tss.example.com",
                "interval": "0.2s",
                "allow": ["127.0.0.1/32"],
                "channels": {
                    "mail": {
                        "type": "email",
                        "host": "127.0.0.1",
                        "port": controller.port,
                        "security": "none",
                        "from": "tss@example.com",
                        "to": ["ops@example.com"],
                    },
                    "team": {"type": "slack", "url": receiver.url("/slack")},
                    "hook": {"type": "webhook", "url": receiver.url("/hook"), "secret": SECRET},
                    "slow": {"type": "webhook", "url": receiver.url("/slow/3")},
                },
                "default_channels": ["mail", "team", "hook"],
                "rules": [
                    {"on": "dead", "jobs": ["flaky"]},
                    {"on": "recovered", "jobs": ["flaky"]},
                    {"on": "missed", "after": 1, "jobs": ["once"]},
                    {"on": "dead", "jobs": ["victim"], "channels": ["slow"]},
                ],
            },
        }
        project = Project(tmp_path)
        project.write("config.yaml", yaml.safe_dump(config))
        served = Served(project, port)
        try:
            yield served, receiver, box
        finally:
            served.admin.close()
            project.close()
            controller.stop()


def _posts(receiver: Receiver, path: str) -> list[Any]:
    return [s for s in receiver.seen if s.path == path]


def _shell(name: str, command: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "type": "shell", "params": {"argv": ["sh", "-c", command]}, **more}


def test_a_failing_job_alerts_once_everywhere_and_recovers_once(
    world: tuple[Served, Receiver, Mailbox],
) -> None:
    served, receiver, box = world
    admin = served.admin
    assert admin.post("/api/v1/jobs", json=_shell("flaky", "exit 3")).status_code == 201
    for _ in range(3):
        assert admin.post("/api/v1/jobs/flaky/runs", json={}).status_code == 201

    def failed_thrice() -> bool:
        runs = admin.get("/api/v1/runs", params={"job": "flaky"}).json()["items"]
        return len(runs) == 3 and all(r["state"] == "failed" for r in runs)

    wait_until(failed_thrice, 30, "three failed runs", served.log)
    wait_until(lambda: len(_posts(receiver, "/hook")) >= 1 and len(box.messages) >= 1, 20,
               "the alerts", served.log)  # fmt: skip
    fixed = admin.put("/api/v1/jobs/flaky", json={"type": "shell", "params": {"argv": ["true"]}})
    assert fixed.status_code == 200, fixed.text
    assert admin.post("/api/v1/jobs/flaky/runs", json={}).status_code == 201
    wait_until(lambda: len(_posts(receiver, "/hook")) >= 2 and len(box.messages) >= 2, 30,
               "the recovery", served.log)  # fmt: skip
    wait_until(lambda: len(_posts(receiver, "/slack")) >= 2, 10, "slack", served.log)
    # nothing more arrives: one alert per channel for three failures, one recovery
    page = admin.get("/api/v1/alerts", params={"job": "flaky", "limit": 100}).json()["items"]
    assert sorted((a["kind"], a["channel"], a["state"]) for a in page) == sorted(
        (kind, channel, "delivered")
        for kind in ("dead", "recovered")
        for channel in ("mail", "team", "hook")
    )
    assert len(box.messages) == 2 and len(_posts(receiver, "/slack")) == 2
    hooks = _posts(receiver, "/hook")
    assert [json.loads(h.body)["kind"] for h in hooks] == ["dead", "recovered"]
    for hook in hooks:
        stamp = hook.headers["X-TSS-Timestamp"]
        assert hook.headers["X-TSS-Signature"] == signature(SECRET, stamp, hook.body.encode())
    assert "exit" in box.messages[0] or "3" in box.messages[0]
    assert "recovered" in box.messages[1]


def test_a_fire_missed_while_the_server_was_down_alerts_once(
    world: tuple[Served, Receiver, Mailbox],
) -> None:
    """The job is made while no server runs (``tss job apply`` on the store), so no
    scheduler can make its fire ahead of time; the server comes back after the fire time
    and fires it late: one `missed` alert."""
    served, receiver, _ = world
    admin = served.admin
    served.proc.kill()
    served.proc.wait(10)
    at = datetime.now(UTC) + timedelta(seconds=2)
    job = _shell("once", "true", schedule={"at": at.isoformat()})
    served.project.write("once.yaml", yaml.safe_dump({"jobs": [job]}))
    served.project.ok("job", "apply", "-f", "once.yaml")
    wait_until(lambda: datetime.now(UTC) > at + timedelta(seconds=2), 10, "the fire time")
    served.proc = served.start()

    def missed() -> list[Any]:
        return [
            json.loads(h.body)
            for h in _posts(receiver, "/hook")
            if json.loads(h.body)["kind"] == "missed"
        ]

    wait_until(lambda: len(missed()) >= 1, 30, "the missed alert", served.log)
    wait_until(lambda: len(admin.get("/api/v1/runs", params={"job": "once"}).json()["items"]) == 1,
               20, "the late fire", served.log)  # fmt: skip
    items = admin.get("/api/v1/alerts", params={"job": "once", "channel": "hook"}).json()
    assert [a["kind"] for a in items["items"]] == ["missed"]
    assert len({m["id"] for m in missed()}) == 1
    assert "should have fired" in missed()[0]["text"]


def test_killed_while_delivering_sends_again_with_the_same_id(
    world: tuple[Served, Receiver, Mailbox],
) -> None:
    served, receiver, _ = world
    admin = served.admin
    assert admin.post("/api/v1/jobs", json=_shell("victim", "exit 1")).status_code == 201
    assert admin.post("/api/v1/jobs/victim/runs", json={}).status_code == 201
    wait_until(lambda: len(_posts(receiver, "/slow/3")) >= 1, 30, "the delivery", served.log)
    served.proc.kill()  # while the receiver holds the request
    served.proc.wait(10)
    served.proc = served.start()

    def delivered() -> bool:
        items = admin.get("/api/v1/alerts", params={"job": "victim"}).json()["items"]
        return len(items) == 1 and items[0]["state"] == "delivered"

    wait_until(delivered, 40, "the alert delivered", served.log)
    ids = {h.headers["X-TSS-Alert-Id"] for h in _posts(receiver, "/slow/3")}
    assert len(ids) == 1  # sent once or twice, always as the same alert
    assert 1 <= len(_posts(receiver, "/slow/3")) <= 2


def test_an_smtp_server_out_of_reach_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    closed = _free_port()  # nothing listens there
    config = {
        "store": {"url": "sqlite:///tss.db"},
        "broker": {"url": "local://"},
        "server": {"host": "127.0.0.1", "port": 0},
        "alerts": {
            "allow": ["127.0.0.1/32"],
            "channels": {
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": closed,
                    "security": "none",
                    "from": "tss@example.com",
                    "to": ["ops@example.com"],
                }
            },
            "rules": ["dead"],
        },
    }
    project = Project(tmp_path)
    project.write("config.yaml", yaml.safe_dump(config))
    result = project.tss("server", timeout=60)
    assert result.code == 2, str(result)
    assert f"error: alerts.channels.mail.host: cannot reach 127.0.0.1:{closed}" in result.err
