"""A worker SIGKILLed in the middle of a flow: the reaper repairs the run it held, the flow
goes on and finishes; then `tss flow status` and `tss flow show` tell the story."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.deployments import KINDS, Where, deployment
from tests.e2e.server_helpers import start_server, stop_server, tss_ok, wait_for, write_config
from tss.core.states import RunState

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", KINDS)
def test_a_killed_worker_does_not_strand_its_flow(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    with deployment(kind, tmp_path, request.config) as where:
        _kill_a_worker_mid_flow(tmp_path, where)


def _kill_a_worker_mid_flow(tmp_path: Path, where: Where) -> None:
    jobs: list[dict[str, Any]] = [
        {"name": "root", "type": "noop"},
        {
            "name": "middle",
            "type": "shell",
            "params": {"argv": ["sh", "-c", "echo started; sleep 5; echo done"]},
            "retries": {"max": 1, "delay": 0},
            "depends_on": ["root"],
        },
        # side runs beside middle, maybe on the worker about to die with its outcome not yet
        # recorded: like any run, it needs a retry to survive that
        {
            "name": "side",
            "type": "noop",
            "retries": {"max": 1, "delay": 0},
            "depends_on": [{"job": "root", "on": "completion"}],
        },
        {"name": "final", "type": "noop", "depends_on": ["middle", "side"]},
        {"name": "on-error", "type": "noop", "depends_on": [{"job": "middle", "on": "failure"}]},
    ]
    config = write_config(
        tmp_path,
        jobs,
        scheduler={"reap_interval": 0.2, "max_sleep": 0.2},
        worker={"lease": 1.5, "heartbeat_interval": 0.3},
        **where.sections,
    )
    tss_ok(config, "job", "apply", "-f", str(config))
    log = tmp_path / "processes.log"
    scheduler = start_server(config, log, ("scheduler",))
    first = start_server(config, log, ("worker", "--worker-id", "w1"))
    procs = [scheduler]
    try:
        root_id = tss_ok(config, "job", "run", "root").split()[0]

        def middle_running() -> bool:
            return any(r.job == "middle" and r.state is RunState.RUNNING for r in where.runs())

        wait_for(middle_running, 30, "the middle job to start", log)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        procs.append(start_server(config, log, ("worker", "--worker-id", "w2")))

        def flow_ended() -> bool:
            runs = [r for r in where.runs() if r.flow_id == root_id]
            return len(runs) == 5 and all(r.state.terminal for r in runs)

        wait_for(flow_ended, 40, "the flow to end", log)
    finally:
        codes = [stop_server(p) for p in procs]
        if first.poll() is None:
            first.kill()
        first.wait(10)
    assert codes == [0, 0], log.read_text()[-3000:]

    runs = {r.job: r for r in where.runs() if r.flow_id == root_id}
    assert {job: r.state for job, r in runs.items()} == {
        "root": RunState.SUCCEEDED,
        "middle": RunState.SUCCEEDED,
        "side": RunState.SUCCEEDED,
        "final": RunState.SUCCEEDED,
        "on-error": RunState.SKIPPED,
    }
    attempts = where.attempts(runs["middle"].id)
    assert [(a.number, a.worker_id) for a in attempts] == [(1, "w1"), (2, "w2")]
    assert attempts[0].state is not RunState.SUCCEEDED  # the reaper ended the lost attempt

    shown = json.loads(tss_ok(config, "flow", "status", runs["final"].id, "--json"))
    assert shown["flow_id"] == root_id and shown["state"] == "succeeded"
    text = tss_ok(config, "flow", "status", root_id)
    for word in ("root", "middle", "final", "on-error", "succeeded", "skipped", "on failure"):
        assert word in text, text
    tree = tss_ok(config, "flow", "show", "root")
    assert "on completion" in tree and "see above" in tree, tree
