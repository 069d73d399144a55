"""``type: http`` jobs run by the real worker of a TSS node: the result and the log line
recorded, a 429's ``Retry-After`` honoured by the retry policy, a refused address failing
at once, the config's ``http:`` section reaching the task type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import run
from tss.config import Settings
from tss.core.states import RunState

from .receiver import Receiver, receiving
from .test_runtime import one, serving


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving("127.0.0.1") as receiver:
        yield receiver


def settings(tmp_path: Path, store: str, **http: Any) -> Settings:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path}/tss.db"
    return Settings(
        store={"url": url},
        worker={"heartbeat_interval": 0.2, "lease": 5, "grace_period": 1},
        scheduler={"max_sleep": 0.2},
        http=http,
    )


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_an_http_job_runs_and_records_its_result(
    hook: Receiver, tmp_path: Path, store: str
) -> None:
    jobs = [{"name": "hook", "type": "http", "params": {"url": hook.url("/json"), "json": [1]}}]

    async def body() -> None:
        async with serving(settings(tmp_path, store, allow=["127.0.0.1/32"]), jobs) as app:
            done = await one(app, "hook")
            assert done.state is RunState.SUCCEEDED, done.error
            assert done.result["status"] == 200 and done.result["body"]["body"] == "[1]"
            stdout = (await app.store.get_logs(done.id))[0]
            assert stdout.startswith(f"POST {hook.url('/json')} -> 200 OK (")

    run(body())


def test_a_429_is_retried_after_its_retry_after(hook: Receiver, tmp_path: Path) -> None:
    jobs = [
        {
            "name": "flaky",
            "type": "http",
            "params": {"url": hook.url("/flaky/k/1")},
            "retries": {"max": 2, "delay": 0, "backoff": "fixed"},
        }
    ]

    async def body() -> None:
        async with serving(settings(tmp_path, "sqlite", allow=["127.0.0.1/32"]), jobs) as app:
            done = await one(app, "flaky")
            assert done.state is RunState.SUCCEEDED, done.error
            assert done.attempt == 2
            attempts = await app.store.list_attempts(done.id)
            assert attempts[0].error is not None
            assert "answered 429 Too Many Requests (Retry-After: 1s)" in attempts[0].error.message
            # The policy's delay is 0: the second call waited for the receiver's Retry-After.
            first, second = hook.seen[0].at, hook.seen[1].at
            assert second - first >= 0.95, second - first

    run(body())


def test_a_refused_address_fails_at_once_without_spending_retries(
    hook: Receiver, tmp_path: Path
) -> None:
    jobs = [
        {
            "name": "inward",
            "type": "http",
            "params": {"url": hook.url("/json")},
            "retries": {"max": 3, "delay": 0},
        }
    ]

    async def body() -> None:
        async with serving(settings(tmp_path, "memory"), jobs) as app:  # secure default
            done = await one(app, "inward")
            assert done.state is RunState.FAILED and done.attempt == 1
            assert done.error is not None and done.error.type == "AddressRefused"
            assert "127.0.0.1 is a loopback address" in done.error.message
            assert "http.allow_private: true" in done.error.message
            assert hook.seen == []

    run(body())
