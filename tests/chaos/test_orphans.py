"""SIGKILL the server: no task process it started (nor their children) lives on, and the
tasks it ran never saw its secrets."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.e2e.server_helpers import read_runs, start_server, stop_server, wait_for, write_config
from tests.integration.test_runtime import alive
from tss.core.states import RunState

pytestmark = pytest.mark.slow

RUNS = 7
#: the shell records its pid, starts a child in its process group, records that, and waits
SCRIPT = "echo $$ > pid_{n}; sleep 60 & echo $! > child_{n}; wait"


def _pids(folder: Path) -> list[int]:
    found = []
    for path in sorted(folder.glob("pid_*")) + sorted(folder.glob("child_*")):
        text = path.read_text().strip()
        if text:
            found.append(int(text))
    return found


def test_no_task_process_outlives_a_sigkilled_server(tmp_path: Path) -> None:
    jobs = [
        {
            "name": f"sleeper-{n}",
            "type": "shell",
            "params": {"argv": ["sh", "-c", SCRIPT.format(n=n)]},
            "schedule": {"at": "2020-01-01T00:00:00Z"},
        }
        for n in range(RUNS)
    ]
    config = write_config(tmp_path, jobs, worker={"concurrency": RUNS})
    log = tmp_path / "server.log"
    server = start_server(config, log)
    try:
        wait_for(lambda: len(_pids(tmp_path)) == 2 * RUNS, 20, "every task to start", log)
        pids = _pids(tmp_path)
        assert all(alive(pid) for pid in pids)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    assert [pid for pid in pids if alive(pid)] == []


def test_tasks_never_see_the_servers_tss_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "env-admin-token-that-must-not-leak"
    monkeypatch.setenv("TSS_ADMIN_TOKEN", token)
    monkeypatch.setenv("TSS_TOKEN", "client-token-that-must-not-leak")
    (tmp_path / "env_dump.py").write_text(
        "import os\n\ndef dump():\n    return {k: v for k, v in os.environ.items()}\n"
    )
    once = {"schedule": {"at": "2020-01-01T00:00:00Z"}}
    jobs = [
        {"name": "in-thread", "params": {"function": "env_dump:dump"}, "isolation": "thread"},
        {"name": "in-child", "params": {"function": "env_dump:dump"}, "isolation": "process"},
        {"name": "shell", "type": "shell", "params": {"argv": ["sh", "-c", "env > shell.env"]}},
    ]
    config = write_config(tmp_path, [{**job, **once} for job in jobs])
    log = tmp_path / "server.log"
    db = tmp_path / "tss.db"
    server = start_server(config, log)
    try:
        wait_for(
            lambda: db.exists() and len([r for r in read_runs(db) if r.state.terminal]) == 3,
            20,
            "the three runs to end",
            log,
        )
    finally:
        assert stop_server(server) == 0
    for run in read_runs(db):
        assert run.state is RunState.SUCCEEDED, run.error
        assert "PATH" in run.result or run.job == "shell"
        if run.job != "shell":
            assert not [k for k in run.result if k.upper().startswith("TSS_")], run.result
    shell_env = (tmp_path / "shell.env").read_text()
    assert "PATH=" in shell_env
    assert "must-not-leak" not in shell_env
    assert "must-not-leak" not in log.read_text()
