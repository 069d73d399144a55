"""One malformed stored row never stops a process (security review, finding 2).

A run whose stored policy cannot be read (here: a retry delay of null, as an infinite
delay was once stored) is quarantined: every read path still returns it, a worker fails
its attempt with the reason instead of running it, and everything else goes on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from tests.integration.test_runtime import one, serving
from tests.servers import run
from tss.config import Settings
from tss.core.states import RunState
from tss.store import encoding
from tss.store.redis import codec as redis_codec

DAMAGED_POLICY = '{"type": "noop", "timeout": null, "retries": {"max": 0, "delay": null}}'


def test_a_damaged_run_is_failed_with_its_reason_and_the_server_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "tss.db"
    settings = Settings(
        store={"url": f"sqlite:///{db}"},
        worker={"heartbeat_interval": 0.2, "lease": 5, "grace_period": 1, "concurrency": 4},
        scheduler={"max_sleep": 0.2},
    )
    jobs = [{"name": "later", "type": "noop"}, {"name": "fine", "type": "noop"}]

    async def body() -> None:
        async with serving(settings, jobs) as app:
            now = await app.store.now()
            ((later, _),) = await app.runs.trigger("later", run_at=now + timedelta(seconds=1.5))
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE runs SET policy = ? WHERE id = ?", (DAMAGED_POLICY, later.id))
            listed = await app.store.get_run(later.id)  # reading it never raises
            assert listed.policy.malformed is not None
            (done,) = await app.runs.wait([later.id], timeout=20, poll=0.05)
            assert done.state is RunState.FAILED
            assert done.error is not None and done.error.type == "MalformedRecord"
            assert "policy is malformed" in done.error.message
            assert (await one(app, "fine")).state is RunState.SUCCEEDED
            await asyncio.sleep(0)

    run(body())


def test_every_column_of_a_damaged_row_is_salvaged() -> None:
    row = ["r1", "job", "no-such-state", "manual", "{not json", "x", "default", "[]",
           "1", None, None, None, None, None, None, None, None, None, None, "{", "{", None,
           None, None, 0]  # fmt: skip
    salvaged = encoding.run_of(row)
    assert salvaged.id == "r1" and salvaged.job == "job"
    assert salvaged.params == {} and salvaged.policy.malformed is not None
    assert salvaged.reason is not None and "malformed" in salvaged.reason


def test_a_damaged_redis_row_is_salvaged() -> None:
    fields = ["r2", "job", "queued", "manual", "{}", "not-a-number", "default",
              DAMAGED_POLICY, "1", "0", "0", False, False, False, False, False, False,
              False, False, False, False, False, False, False, "0"]  # fmt: skip
    salvaged = redis_codec.run_of(encoding.dumps(fields))
    assert salvaged.id == "r2" and salvaged.policy.malformed is not None


def test_a_damaged_job_definition_is_a_paused_placeholder() -> None:
    spec = encoding.spec_of('{"name": "j", "retries": {"delay": null}}', "j")
    assert spec.name == "j" and spec.paused
    assert spec.description.startswith("quarantined: ")


def test_a_policy_that_is_not_json_does_not_stop_a_filtered_claim(tmp_path: Path) -> None:
    """SQLite filters claims by task type and labels inside its query: a policy that is no
    JSON at all must not make that query fail for the whole pool. The run is claimed, and
    its worker fails it with the reason."""
    from tests.conformance.support import ACTOR, new_run
    from tss.core.workers import Room
    from tss.store.sqlite import SQLiteStore

    db = tmp_path / "tss.db"

    async def body() -> None:
        store = SQLiteStore(f"sqlite:///{db}")
        await store.start()
        try:
            created = await store.create_runs([new_run(), new_run()], actor=ACTOR)
            damaged, fine = (run_ for run_, _ in created)
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE runs SET policy = '{not json' WHERE id = ?", (damaged.id,))
            claimed = await store.claim_next(
                ["default"], limit=10, worker_id="w1", lease=30, room=Room(4, 1024),
                types=["noop"], labels=[],
            )  # fmt: skip
            assert sorted(r.id for r in claimed) == sorted([damaged.id, fine.id])
            [quarantined] = [r for r in claimed if r.id == damaged.id]
            assert quarantined.policy.malformed is not None
        finally:
            await store.close()

    run(body())
