"""`tss worker -d TASK N` (TSSv5's `worker.py -d <task name> <number_instances>`): the
worker queues N runs of the job when it starts, then runs them."""

from __future__ import annotations

import json

from .conftest import Project, wait_until


def test_worker_d_queues_n_runs_of_a_job_and_runs_them(project: Project) -> None:
    project.write(
        "config.yaml",
        "store: {url: 'sqlite:///tss.db'}\nbroker: {url: 'store://'}\n"
        "jobs:\n  - {name: hello, type: shell, params: {argv: [echo, hi]}}\n",
    )
    project.ok("job", "apply", "-f", "config.yaml")
    worker = project.start("worker", "-d", "hello", "5")
    try:
        project.wait_for_log("queued 5 runs of hello")

        def done() -> bool:
            listed = json.loads(project.ok("run", "list", "--job", "hello", "--json").out)
            runs = listed["items"] if isinstance(listed, dict) else listed
            return len(runs) == 5 and all(r["state"] == "succeeded" for r in runs)

        wait_until(done, 30, "5 succeeded runs of hello")
    finally:
        assert project.stop(worker) == 0
    refused = project.tss("worker", "-d", "hello", "0")
    assert refused.code == 2 and "N must be between 1" in refused.err
    missing = project.tss("worker", "-d", "nosuch", "2")
    assert missing.code != 0 and "nosuch" in missing.err
