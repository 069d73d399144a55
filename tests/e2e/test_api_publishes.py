"""`tss api` publishes the runs it queues: a run triggered or retried through the API of a
split deployment starts at once, not when a scheduler's reconciler finds it unpublished."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.chaos.deployments import deployment

from .server_helpers import start_server, stop_server, tss_ok, wait_for, write_config

pytestmark = pytest.mark.slow

#: far longer than the test waits: only a publish by the API can start the runs in time
NEVER = "1h"


@pytest.mark.parametrize("kind", ["postgres+rabbitmq", "redis+redis"])
def test_runs_queued_through_the_api_start_without_the_reconciler(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with deployment(kind, tmp_path, request.config) as where:
        config = write_config(
            tmp_path,
            [{"name": "hello", "type": "noop"}],
            **where.sections,
            api={"auth": False},
            scheduler={"reconcile_interval": NEVER, "unpublished_after": NEVER},
        )
        # Stored beforehand, so that only the way the runs take is under test.
        tss_ok(config, "job", "apply", "-f", str(config))
        log = tmp_path / "processes.log"
        api_log = tmp_path / "api.log"
        procs = [
            start_server(config, log, ("scheduler",)),
            start_server(config, log, ("worker", "--worker-id", "w1")),
            start_server(config, api_log, ("api",)),
        ]
        try:
            found: list[str] = []

            def serving() -> bool:
                found[:] = re.findall(r"api +(http://\S+?)/api/v1", api_log.read_text())
                return bool(found) and "w1" in log.read_text() and "scheduler" in log.read_text()

            wait_for(serving, 30, "the three processes", api_log)
            time.sleep(1)  # the worker past its first reads: waiting on the broker
            with httpx.Client(base_url=f"{found[0]}/api/v1", timeout=10) as client:
                ran = client.post("/jobs/hello/runs", json={})
                assert ran.status_code == 201, ran.text

                def ended(run_id: str) -> bool:
                    return client.get(f"/runs/{run_id}").json()["state"] == "succeeded"

                wait_for(lambda: ended(ran.json()["id"]), 10, "the triggered run", log)
                again = client.post(f"/runs/{ran.json()['id']}/retry")
                assert again.status_code in (200, 201), again.text
                wait_for(lambda: ended(again.json()["id"]), 10, "the retried run", log)
        finally:
            codes = [stop_server(p) for p in procs]
        assert codes == [0, 0, 0], log.read_text()[-3000:] + api_log.read_text()[-2000:]
