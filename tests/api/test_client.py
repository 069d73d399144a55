"""`tss.Client` and `tss.AsyncClient` against a live node: typed results, TSS errors."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.live import ADMIN, LiveAPI
from tss import (
    AsyncClient,
    Client,
    Conflict,
    Forbidden,
    NotFound,
    RunState,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from tss.api.schemas import JobOut, RunOut


def wait(client: Client, run_id: str) -> RunOut:
    deadline = time.monotonic() + 20
    while not (run := client.get_run(run_id)).state.terminal:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return run


def test_sync_client_round_trip(api: LiveAPI) -> None:
    with Client(api.url, ADMIN) as tss:
        made = tss.create_job({"name": "cl-echo", "type": "shell",
                               "params": {"argv": ["echo", "from the client"]}})  # fmt: skip
        assert isinstance(made, JobOut)
        assert made.version == 1
        run = tss.trigger("cl-echo", idempotency_key="once")
        assert tss.trigger("cl-echo", idempotency_key="once").id == run.id
        done = wait(tss, run.id)
        assert done.state is RunState.SUCCEEDED
        assert done.attempts is not None and done.attempts[0].worker_id
        assert tss.run_logs(run.id).stdout == "from the client\n"
        assert [r.id for r in tss.list_runs(job="cl-echo").items] == [run.id]
        changed = tss.patch_job("cl-echo", {"description": "patched"}, expected_version=1)
        assert changed.version == 2
        with pytest.raises(Conflict) as stale:
            tss.patch_job("cl-echo", {"description": "again"}, expected_version=1)
        assert stale.value.field == "version"
        paused = tss.pause_job("cl-echo")
        assert paused.paused
        assert not tss.resume_job("cl-echo").paused
        assert tss.list_jobs(prefix="cl-").total == 1
        assert tss.stats(window=600).counts["succeeded"] >= 1
        [health] = tss.job_health(["cl-echo"]).items
        assert (health.job, health.succeeded, health.success_rate) == ("cl-echo", 1, 1.0)
        assert "default" in [p.pool for p in tss.queue_stats().pools]
        assert tss.lateness_stats(window=600).window == 600
        assert any(w.state == "up" for w in tss.list_workers().items)
        assert tss.list_events(after=0, limit=5).items
        tss.delete_job("cl-echo")
        with pytest.raises(NotFound) as missing:
            tss.get_job("cl-echo")
        assert missing.value.field == "name"


def test_errors_carry_code_and_field(api: LiveAPI) -> None:
    with Client(api.url, ADMIN) as tss:
        with pytest.raises(ValidationError) as bad:
            tss.create_job({"name": "cl-bad", "type": "noop", "schedule": {"cron": "nope"}})
        assert bad.value.field == "schedule.cron"
        with pytest.raises(ValidationError) as later:
            tss.trigger("cl-missing", run_at=datetime(9999, 1, 1, tzinfo=UTC), priority=12)
        assert later.value.field == "priority"
        viewer = tss.create_token(
            "cl-viewer", "viewer", expires_at=datetime.now(UTC) + timedelta(days=1)
        )
    with Client(api.url, viewer.token) as tss:
        assert tss.list_jobs().items is not None
        with pytest.raises(Forbidden) as forbidden:
            tss.create_job({"name": "cl-nope", "type": "noop"})
        assert "admin" in str(forbidden.value)
    with Client(api.url, "tss_nope_nope") as tss, pytest.raises(Unauthorized):
        tss.list_jobs()
    with Client("http://127.0.0.1:9", ADMIN, timeout=2) as tss, pytest.raises(Unavailable) as down:
        tss.list_jobs()
    assert "127.0.0.1:9" in str(down.value)


def test_async_client(api: LiveAPI) -> None:
    async def body() -> None:
        async with AsyncClient(api.url, ADMIN) as tss:
            await tss.create_job(
                {"name": "cl-async", "type": "noop", "schedule": {"every": 60},
                 "overridable": ["result"]}
            )  # fmt: skip
            times = await tss.next_fires("cl-async", 3)
            assert times[1] - times[0] == timedelta(seconds=60)
            run = await tss.trigger("cl-async", params={"result": 1})
            assert run.params == {"result": 1}
            tokens = await tss.list_tokens()
            made = await tss.create_token("cl-async-token", "operator")
            assert made.token.startswith("tss_")
            assert len((await tss.list_tokens()).items) == len(tokens.items) + 1
            await tss.revoke_token("cl-async-token")
            [health] = (await tss.job_health(["cl-async"])).items
            assert health.job == "cl-async" and health.runs == 1
            assert (await tss.queue_stats()).pools
            assert (await tss.lateness_stats(3600)).samples >= 0
            with pytest.raises(NotFound):
                await tss.revoke_token("cl-never-made")

    asyncio.run(body())


def test_sync_client_flows(api: LiveAPI) -> None:
    with Client(api.url, ADMIN) as tss:
        tss.create_job({"name": "cl-top", "type": "noop"})
        tss.create_job({"name": "cl-down", "type": "noop", "depends_on": ["cl-top"]})
        graph = tss.job_flow("cl-top")
        assert [(e.parent, e.child, e.on) for e in graph.edges] == [
            ("cl-top", "cl-down", "success")
        ]
        later = datetime.now(UTC) + timedelta(hours=1)
        root = tss.trigger("cl-top", run_at=later)
        assert root.flow_id == root.id
        [listed] = [f for f in tss.list_flows(limit=500).items if f.flow_id == root.id]
        assert (listed.root_job, listed.state) == ("cl-top", "running")
        assert listed.counts == {"scheduled": 1, "waiting": 1}
        assert tss.cancel_flow(root.id).state == "cancelled"
        assert tss.get_flow(root.id).state == "cancelled"


def test_sync_client_apply_and_trigger_many(api: LiveAPI) -> None:
    with Client(api.url, ADMIN) as tss:
        batch = [
            {"name": "cl-ap-child", "type": "noop", "depends_on": ["cl-ap-root"]},
            {"name": "cl-ap-root", "type": "noop"},
        ]
        assert tss.apply_jobs(batch) == [("cl-ap-child", "created"), ("cl-ap-root", "created")]
        batch[1]["priority"] = 3
        assert tss.apply_jobs(batch) == [("cl-ap-child", "unchanged"), ("cl-ap-root", "updated")]
        with pytest.raises(Conflict):
            tss.apply_jobs([{"name": "cl-ap-new", "type": "noop"}, batch[1]], create_only=True)
        with pytest.raises(ValidationError) as bad:
            tss.apply_jobs([{"name": "cl-ap-bad", "type": "nope"}])
        assert bad.value.field == "type"
        with pytest.raises(NotFound):
            tss.get_job("cl-ap-new")
        runs = tss.trigger_many("cl-ap-root", 4, priority=7)
        assert len({r.id for r in runs}) == 4
        assert all(isinstance(r, RunOut) and r.priority == 7 for r in runs)
        with pytest.raises(ValidationError) as zero:
            tss.trigger_many("cl-ap-root", 0)
        assert zero.value.field == "count"


def test_async_client_apply_and_trigger_many(api: LiveAPI) -> None:
    async def body() -> None:
        async with AsyncClient(api.url, ADMIN) as tss:
            applied = await tss.apply_jobs([{"name": "cl-ap-async", "type": "noop"}])
            assert applied == [("cl-ap-async", "created")]
            runs = await tss.trigger_many("cl-ap-async", 2)
            assert [r.job for r in runs] == ["cl-ap-async", "cl-ap-async"]

    asyncio.run(body())
