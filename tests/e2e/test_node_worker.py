"""The Node.js reference worker (``examples/workers/node/worker.js``) against a real
``tss server``: it takes a flow's runs through the worker protocol, reports failures that
the server retries, honours timeouts and cancels, hands back on SIGTERM, and a run whose
worker is SIGKILLed mid-run is run again by another worker once its lease runs out.

The server's own worker serves pool ``default`` only; the jobs here are in pools that only
Node workers serve. Skipped without ``node`` on PATH, failed for it in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Project, new_project, wait_until
from tests.servers import missing

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKER_JS = ROOT / "examples" / "workers" / "node" / "worker.js"
NODE = shutil.which("node") or ""

# A short lease, beaten often and reaped often, so a killed worker's run is re-queued soon.
CONFIG = """\
store: {url: "sqlite:///tss.db"}
broker: {url: "local://"}
server: {port: 0}
scheduler: {max_sleep: 0.2s, reap_interval: 0.2s}
worker: {pools: [default], lease: 2s, heartbeat_interval: 0.5s, grace_period: 2s}
logging: {level: WARNING}
jobs:
  - {name: extract, type: noop, pool: node, params: {result: {rows: 3}}}
  - name: transform
    type: shell
    pool: node
    params:
      argv: [sh, -c, 'echo "$TSS_JOB attempt $TSS_ATTEMPT, token ${TSS_TOKEN:-unset}"; echo e >&2']
    depends_on: [extract]
  - {name: load, type: noop, pool: node, params: {result: loaded}, depends_on: [transform]}
  - name: flaky
    type: shell
    pool: node
    params: {argv: [sh, -c, "echo trying; echo boom >&2; exit 3"]}
    retries: {max: 2, delay: 0.1, backoff: fixed}
  - name: hang
    type: shell
    pool: node
    timeout: 1
    params: {argv: [sh, -c, "echo started; sleep 30"]}
  - {name: endless, type: shell, pool: node, params: {argv: [sleep, "30"]}}
  - name: chatty
    type: shell
    pool: node
    params: {argv: [sh, -c, "yes xxxxxxxxxxxxxxx | head -c 3000000; echo the end"]}
  - {name: long, type: noop, pool: kill, params: {sleep: 3, result: done}}
  - {name: parked, type: noop, pool: drain, params: {sleep: 30}}
"""


@dataclass
class Server:
    """The running server, a client with an admin token, and the worker token."""

    project: Project
    url: str
    api: httpx.Client
    worker_token: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def worker(self, worker_id: str, pool: str, **env: str) -> subprocess.Popen[bytes]:
        """Start the Node worker ``worker_id`` serving ``pool``; its log is ``<id>.log``."""
        environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.project.root),
            "TSS_URL": self.url,
            "TSS_TOKEN": self.worker_token,
            "TSS_WORKER_ID": worker_id,
            "TSS_POOLS": pool,
            **env,
        }
        with (self.project.root / f"{worker_id}.log").open("ab") as log:
            proc = subprocess.Popen(
                [NODE, str(WORKER_JS)],
                cwd=self.project.root,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers.append(proc)
        return proc

    def log(self, worker_id: str) -> str:
        return (self.project.root / f"{worker_id}.log").read_text(errors="replace")

    def get(self, path: str) -> Any:
        response = self.api.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    def trigger(self, job: str) -> str:
        response = self.api.post(f"/api/v1/jobs/{job}/runs", json={})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v1/runs/{run_id}"))

    def wait_run(
        self, run_id: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 15
    ) -> dict[str, Any]:
        """Poll the run until ``check`` holds for it; the run as last read."""
        seen: dict[str, Any] = {}

        def holds() -> bool:
            seen.update(self.run(run_id))
            return check(seen)

        wait_until(holds, timeout, what, lambda: f"run: {seen}\nworkers: {self.worker_logs()}")
        return seen

    def worker_logs(self) -> str:
        return "\n".join(p.read_text()[-1500:] for p in self.project.root.glob("*.log"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not NODE:
        missing("node is not on PATH: install Node.js 18+ to test the Node reference worker")
    project = new_project(tmp_path_factory.mktemp("node-worker"), config=CONFIG)
    admin = project.ok("token", "create", "--name", "e2e-admin", "--role", "admin").out.strip()
    worker = project.ok("token", "create", "--name", "e2e-node", "--role", "worker").out.strip()
    project.start("server")
    try:
        project.wait_for_log("press Ctrl+C")
        banner = (project.root / "server.log").read_text()
        found = re.search(r"api\s+(http://127\.0\.0\.1:\d+)/api/v1", banner)
        assert found, banner
        url = found.group(1)
        headers = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as api:
            made = Server(project, url, api, worker)
            try:
                yield made
            finally:
                for proc in made.workers:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait(10)
    finally:
        project.close()


@pytest.fixture(scope="module")
def node_worker(server: Server) -> str:
    """One Node worker serving pool ``node`` for the module; its id."""
    server.worker("node-1", "node", TSS_CONCURRENCY="4")
    wait_until(
        lambda: any(w["id"] == "node-1" for w in server.get("/api/v1/workers")["items"]),
        15,
        "the Node worker to register",
        server.worker_logs,
    )
    return "node-1"


def test_a_flow_runs_through_the_node_worker(server: Server, node_worker: str) -> None:
    flow_id = server.trigger("extract")
    wait_until(
        lambda: server.get(f"/api/v1/flows/{flow_id}")["state"] != "running",
        15,
        "the flow to end",
        server.worker_logs,
    )
    flow = server.get(f"/api/v1/flows/{flow_id}")
    assert flow["state"] == "succeeded", flow
    runs = {r["job"]: r for r in flow["runs"]}
    assert set(runs) == {"extract", "transform", "load"}
    assert {(r["state"], r["worker_id"], r["attempt"]) for r in runs.values()} == {
        ("succeeded", node_worker, 1)
    }
    assert runs["extract"]["result"] == {"rows": 3}
    assert runs["transform"]["result"] == {"exit_code": 0}
    assert runs["load"]["result"] == "loaded"
    logs = server.get(f"/api/v1/runs/{runs['transform']['id']}/logs")
    # The task saw its run in its environment, and nothing of the worker's TSS_* variables.
    assert logs["stdout"] == "transform attempt 1, token unset\n"
    assert logs["stderr"] == "e\n"
    worker = next(w for w in server.get("/api/v1/workers")["items"] if w["id"] == node_worker)
    assert worker["pools"] == ["node"] and set(worker["task_types"]) == {"noop", "shell"}


def test_a_failing_run_is_retried_by_the_servers_policy_then_fails(
    server: Server, node_worker: str
) -> None:
    run_id = server.trigger("flaky")
    run = server.wait_run(run_id, lambda r: r["state"] == "failed", "flaky to fail")
    assert run["attempt"] == 3  # the first try and two retries
    assert [(a["state"], a["worker_id"]) for a in run["attempts"]] == [("failed", node_worker)] * 3
    assert run["error"]["type"] == "ShellCommandFailed"
    assert run["error"]["message"] == "exited with code 3: boom"
    assert run["error"]["exit_code"] == 3
    logs = server.get(f"/api/v1/runs/{run_id}/logs")
    assert (logs["stdout"], logs["stderr"]) == ("trying\n", "boom\n")


def test_a_run_that_prints_megabytes_ends_with_the_head_and_tail(
    server: Server, node_worker: str
) -> None:
    run_id = server.trigger("chatty")
    run = server.wait_run(run_id, lambda r: r["state"] not in ("queued", "running"), "chatty")
    assert run["state"] == "succeeded", run
    stdout = server.get(f"/api/v1/runs/{run_id}/logs")["stdout"]
    assert stdout.startswith("xxxxxxxxxxxxxxx\n") and stdout.endswith("xxxxxxxxxxxxxxx\nthe end\n")
    assert "[... output truncated ...]" in stdout and len(stdout) < 100_000


def test_a_timeout_ends_the_run_and_a_cancel_stops_it(server: Server, node_worker: str) -> None:
    hung = server.trigger("hang")
    endless = server.trigger("endless")
    run = server.wait_run(hung, lambda r: r["state"] == "timed_out", "hang to time out")
    assert run["error"]["type"] == "TimeoutError"
    assert run["error"]["message"] == "exceeded its timeout of 1s"
    assert server.get(f"/api/v1/runs/{hung}/logs")["stdout"] == "started\n"

    server.wait_run(endless, lambda r: r["state"] == "running", "endless to start")
    assert server.api.post(f"/api/v1/runs/{endless}/cancel").status_code == 200
    # The server says `lost` at the next heartbeat: the worker stops the run, reports nothing.
    wait_until(
        lambda: f"run {endless} attempt 1: lost, stopped" in server.log(node_worker),
        10,
        "the worker to stop the cancelled run",
        server.worker_logs,
    )
    assert server.run(endless)["state"] == "cancelled"


def test_a_run_whose_worker_is_killed_runs_again_on_another(server: Server) -> None:
    first = server.worker("kill-1", "kill")
    run_id = server.trigger("long")
    server.wait_run(
        run_id, lambda r: r["state"] == "running" and r["worker_id"] == "kill-1", "long to start"
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    server.worker("kill-2", "kill")

    run = server.wait_run(run_id, lambda r: r["state"] == "succeeded", "long to succeed", 30)
    assert run["result"] == "done"
    attempts = run["attempts"]
    *lost, last = attempts
    assert (last["state"], last["worker_id"], last["number"]) == (
        "succeeded",
        "kill-2",
        run["attempt"],
    )
    # The one earlier attempt was the killed worker's, ended by the reaper when its lease
    # ran out. The claim the worker left waiting on the server when it died ends with its
    # connection (the server asks every second), so it never takes the re-queued run.
    assert len(lost) == 1
    for attempt in lost:
        assert (attempt["state"], attempt["worker_id"]) == ("failed", "kill-1")
        assert attempt["error"]["type"] == "LeaseExpired"
    assert sum(a["state"] == "succeeded" for a in attempts) == 1


def test_sigterm_hands_back_what_runs_and_says_down(server: Server) -> None:
    proc = server.worker("drain-1", "drain", TSS_CONCURRENCY="1", TSS_GRACE_PERIOD="0.5")
    run_id = server.trigger("parked")
    server.wait_run(run_id, lambda r: r["state"] == "running", "parked to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, server.log("drain-1")

    run = server.run(run_id)
    assert run["state"] == "queued" and run["handbacks"] == 1, run
    assert [(a["state"], a["worker_id"]) for a in run["attempts"]] == [("cancelled", "drain-1")]
    worker = next(w for w in server.get("/api/v1/workers")["items"] if w["id"] == "drain-1")
    assert worker["state"] == "down"
    assert server.api.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
