"""Flows with a scheduler and a worker in one process on a broker that does not read the
store (the in-process broker): a child queued when its parent ends is announced by the
worker that recorded the end, not left for the reconciler."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.test_runtime import T, serving
from tests.servers import run
from tss.config import Settings
from tss.core.states import RunState


@pytest.fixture(params=["memory", "sqlite"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/tss.db"
    # The reconciler is held off for an hour: only the worker's announcement can move the
    # flow on, so a flow that stalls here would stall for an hour in production too.
    return Settings(
        store={"url": url},
        worker={"heartbeat_interval": 0.2, "lease": 5, "grace_period": 1, "concurrency": 4},
        scheduler={"max_sleep": 0.2, "unpublished_after": 3600, "reconcile_interval": 3600},
    )


def test_a_chain_and_its_failure_branch_move_on_without_the_reconciler(
    settings: Settings,
) -> None:
    async def body() -> None:
        jobs = [
            {"name": "extract", "type": "noop"},
            {"name": "transform", "type": "noop", "depends_on": ["extract"]},
            {"name": "load", "params": {"function": f"{T}:always_fail"},
             "depends_on": ["transform"]},
            {"name": "cleanup", "type": "noop",
             "depends_on": [{"job": "load", "on": "failure"}]},
            {"name": "report", "type": "noop", "depends_on": ["load"]},
        ]  # fmt: skip
        async with serving(settings, jobs) as app:
            began = asyncio.get_running_loop().time()
            ((root, _),) = await app.runs.trigger("extract")
            flow = root.flow_id or root.id

            async def ended() -> dict[str, RunState]:
                runs = await app.runs.flow_runs(flow)
                return {r.job: r.state for r in runs}

            states: dict[str, RunState] = {}
            while len(states) < 5 or not all(s.terminal for s in states.values()):
                assert asyncio.get_running_loop().time() - began < 15, states
                await asyncio.sleep(0.05)
                states = await ended()
            assert states == {
                "extract": RunState.SUCCEEDED,
                "transform": RunState.SUCCEEDED,
                "load": RunState.FAILED,
                "cleanup": RunState.SUCCEEDED,
                "report": RunState.SKIPPED,
            }

    run(body())
