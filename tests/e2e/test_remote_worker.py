"""``tss worker --url URL --token T``: the Python worker over the worker protocol, with no
store or broker credentials, against a real ``tss server``: a flow runs through it, and a
worker killed mid-run (SIGKILL) loses nothing: its run is taken again by the next worker
once the lease runs out, and ends with exactly one success."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import TSS, Project, wait_until

ADMIN = "remote-worker-admin-token-0123456789"
TASKS = '''\
import os
import time


def slow_once(marker):
    """Slow the first time (long enough to be killed), quick after."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        print("first attempt: sleeping", flush=True)
        time.sleep(120)
    return "done"


def loud(lines):
    for i in range(lines):
        print(f"line {i:07d} " + "x" * 100)
    return lines


def step(name):
    print(f"step {name}")
    return {"step": name, "pid": os.getpid()}
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Project, str, httpx.Client]]:
    """``tss server`` whose own worker serves only ``default``; the jobs are in ``remote``."""
    port = _free_port()
    config = {
        "store": {"url": "sqlite:///tss.db"},
        "broker": {"url": "local://"},
        "server": {"host": "127.0.0.1", "port": port},
        "api": {"admin_token": ADMIN},
        "scheduler": {"max_sleep": "0.2s", "reap_interval": "0.5s"},
        "worker": {"pools": ["default"], "lease": "2s", "heartbeat_interval": "0.5s"},
        "logging": {"level": "INFO"},
    }
    project = Project(tmp_path)
    project.write("config.yaml", yaml.safe_dump(config))
    # The worker's host has its own config: only what the worker itself needs.
    worker_config = {"python_path": ["."], "http": {"allow": ["127.0.0.1/32"]}}
    project.write("worker/config.yaml", yaml.safe_dump(worker_config))
    project.write("worker/remote_tasks.py", TASKS)
    project.start("server")
    url = f"http://127.0.0.1:{port}"
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)

    def ready() -> bool:
        try:
            return admin.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, 30, "the server to be ready", lambda: project.root.joinpath(
        "server.log").read_text()[-3000:])  # fmt: skip
    try:
        yield project, url, admin
    finally:
        admin.close()
        project.close()


def start_worker(
    project: Project, url: str, token: str, name: str, *, seed_env: bool = False
) -> subprocess.Popen[bytes]:
    """``tss worker --url URL --token T``, or (``seed_env``) the same told by TSSv5's
    variable ``TSS_WORKER_STATUS_REGISTRY`` and ``TSS_TOKEN``."""
    log = project.root / f"{name}.log"
    where = ["--url", url, "--token", token]
    env = {}
    if seed_env:
        where, env = [], {"TSS_WORKER_STATUS_REGISTRY": url, "TSS_TOKEN": token}
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            [TSS, "worker", *where, "--pool", "remote", "--worker-id", name,
             "--concurrency", "4"],
            cwd=project.root / "worker", env=project.environ(env),
            stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    project.servers.append(proc)
    return proc


def job(name: str, function: str, kwargs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    params = {"function": f"remote_tasks:{function}", "kwargs": kwargs}
    return {"name": name, "type": "python", "pool": "remote", "params": params, **extra}


def wait_state(admin: httpx.Client, run_id: str, states: set[str], timeout: float = 30) -> Any:
    found: dict[str, Any] = {}

    def check() -> bool:
        found.update(admin.get(f"/api/v1/runs/{run_id}").json())
        return found["state"] in states

    wait_until(check, timeout, f"run {run_id} to be one of {states}", lambda: str(found))
    return found


def test_a_flow_and_a_kill_mid_run_through_the_python_worker_over_http(
    served: tuple[Project, str, httpx.Client],
) -> None:
    project, url, admin = served
    token = admin.post("/api/v1/tokens", json={"name": "w", "role": "worker"}).json()["token"]
    marker = str(project.root / "worker" / "started-once")
    jobs = [
        job("r-slow", "slow_once", {"marker": marker}),
        job("r-extract", "step", {"name": "extract"}),
        job("r-load", "step", {"name": "load"}, depends_on=["r-extract"]),
        # More output than one request to the server may carry (api.max_body, 1 MB).
        job("r-loud", "loud", {"lines": 30000}),
    ]
    for spec in jobs:
        made = admin.post("/api/v1/jobs", json=spec)
        assert made.status_code == 201, made.text

    first = start_worker(project, url, token, "py-worker-1")
    slow = admin.post("/api/v1/jobs/r-slow/runs", json={}).json()["id"]
    wait_state(admin, slow, {"running"})
    wait_until(lambda: (project.root / "worker" / "started-once").exists(), 20, "the marker")
    assert admin.get(f"/api/v1/runs/{slow}").json()["worker_id"] == "py-worker-1"
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    second = start_worker(project, url, token, "py-worker-2", seed_env=True)
    ended = wait_state(admin, slow, {"succeeded", "failed", "timed_out", "cancelled"}, 60)
    assert ended["state"] == "succeeded", ended
    assert ended["result"] == "done"
    assert ended["worker_id"] == "py-worker-2"
    attempts = ended["attempts"]
    assert [a["number"] for a in attempts] == [1, 2]
    assert [a["state"] for a in attempts].count("succeeded") == 1

    # A flow through the same worker: the second step starts once the first has ended.
    root = admin.post("/api/v1/jobs/r-extract/runs", json={}).json()
    wait_state(admin, root["id"], {"succeeded"})
    flow_id = admin.get(f"/api/v1/runs/{root['id']}").json()["flow_id"]
    assert flow_id is not None

    def load_run() -> list[Any]:
        runs: list[Any] = admin.get("/api/v1/runs", params={"job": "r-load"}).json()["items"]
        return [r for r in runs if r["flow_id"] == flow_id]

    wait_until(lambda: bool(load_run()) and load_run()[0]["state"] == "succeeded", 30,
               "the flow's second step", lambda: str(load_run()))  # fmt: skip
    assert load_run()[0]["result"]["step"] == "load"
    logs = admin.get(f"/api/v1/runs/{load_run()[0]['id']}/logs").json()
    assert logs["stdout"] == "step load\n"

    loud = admin.post("/api/v1/jobs/r-loud/runs", json={}).json()["id"]
    ended = wait_state(admin, loud, {"succeeded", "failed", "timed_out", "cancelled"}, 30)
    assert (ended["state"], ended["result"]) == ("succeeded", 30000)
    stdout = admin.get(f"/api/v1/runs/{loud}/logs").json()["stdout"]
    assert stdout.startswith("line 0000000 ")
    assert stdout.rstrip().endswith("x" * 100)
    assert "truncated" in stdout

    # Webhooks from the worker's host, by its own http config: a 404 is final, so the
    # job's retries are not spent on it (the worker says so; the server decides the same).
    hooks = [
        {"name": "r-hook", "type": "http", "pool": "remote",
         "params": {"url": f"{url}/healthz"}},
        {"name": "r-hook-404", "type": "http", "pool": "remote", "retries": 2,
         "params": {"url": f"{url}/no-such-page"}},
    ]  # fmt: skip
    for spec in hooks:
        assert admin.post("/api/v1/jobs", json=spec).status_code == 201
    hook = admin.post("/api/v1/jobs/r-hook/runs", json={}).json()["id"]
    ended = wait_state(admin, hook, {"succeeded", "failed", "timed_out", "cancelled"}, 30)
    assert (ended["state"], ended["result"]["status"]) == ("succeeded", 200), ended
    missing = admin.post("/api/v1/jobs/r-hook-404/runs", json={}).json()["id"]
    ended = wait_state(admin, missing, {"succeeded", "failed", "timed_out", "cancelled"}, 30)
    assert (ended["state"], ended["attempt"]) == ("failed", 1), ended
    assert "404" in ended["error"]["message"]

    listed = {w["id"]: w for w in admin.get("/api/v1/workers").json()["items"]}
    assert listed["py-worker-2"]["state"] == "up"
    assert "python" in listed["py-worker-2"]["task_types"]
    assert project.stop(second) == 0
    wait_until(
        lambda: admin.get("/api/v1/workers").json()["items"] and {
            w["id"]: w["state"] for w in admin.get("/api/v1/workers").json()["items"]
        }["py-worker-2"] == "down", 10, "the stopped worker to say it is down",
    )  # fmt: skip
    # The worker's host never had the store's address.
    assert "tss.db" not in (project.root / "py-worker-2.log").read_text()
