"""The broker goes away for 30 seconds with 1,000 runs in flight, then comes back: every run
ends exactly once and nothing is left `running` or `queued`.

The store is PostgreSQL (a database of the test's own); the broker is RabbitMQ or Redis,
reached through a proxy the test cuts, so the shared server never stops. A scheduler and
two workers run as separate processes, as in production."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.deployments import Where
from tests.e2e.server_helpers import start_server, stop_server, tss_ok, wait_for, write_config
from tests.servers import (
    RABBITMQ_START,
    RABBITMQ_URL,
    REDIS_START,
    REDIS_URL,
    PgDatabases,
    require_server,
)
from tests.tcp_proxy import TcpProxy, proxy_for
from tss.core.states import RunState

pytestmark = pytest.mark.slow

RUNS = 1000
OUTAGE = float(os.environ.get("TSS_CHAOS_OUTAGE", "30"))


@pytest.fixture(params=["rabbitmq", "redis"])
def outage(request: pytest.FixtureRequest) -> Iterator[tuple[Where, TcpProxy]]:
    kind = request.param
    real = RABBITMQ_URL if kind == "rabbitmq" else REDIS_URL
    if kind == "rabbitmq":
        require_server("RabbitMQ", real, RABBITMQ_START)
    else:
        require_server("Redis", real, REDIS_START)
    databases = PgDatabases.shared(request.config)
    store_url = databases.create()
    tag = f"tss-outage-{uuid.uuid4().hex[:12]}"
    try:
        with proxy_for(real) as cut:
            yield Where(store_url, cut.through(real, f"prefix={tag}")), cut
    finally:
        databases.drop(store_url)


def test_a_30s_broker_outage_with_1000_runs_in_flight_loses_nothing(
    tmp_path: Path, outage: tuple[Where, TcpProxy]
) -> None:
    where, cut = outage
    executions = tmp_path / "executions.log"
    # Each execution records its run and attempt first: none may execute twice.
    script = f'echo "$TSS_RUN_ID $TSS_ATTEMPT" >> {executions}; exec sleep 0.1'
    job = {"name": "work", "type": "shell", "params": {"argv": ["sh", "-c", script]}}
    config = write_config(
        tmp_path,
        [job],
        worker={"concurrency": 8, "heartbeat_interval": 0.5},
        scheduler={"max_sleep": 0.5},
        logging={"level": "WARNING"},
        **where.sections,
    )
    log = tmp_path / "processes.log"
    tss_ok(config, "job", "apply", "-f", str(config))
    procs = [
        start_server(config, log, ("scheduler",)),
        *(start_server(config, log, ("worker", "--worker-id", w)) for w in ("w1", "w2")),
    ]
    try:
        tss_ok(config, "job", "run", "work", "--count", str(RUNS), timeout=120)

        def some_ended() -> bool:
            return sum(r.state.terminal for r in where.runs()) >= 20

        wait_for(some_ended, 60, "the first runs to end", log)
        cut.down()
        cut_at = time.monotonic()
        during = Counter(r.state for r in where.runs())
        time.sleep(OUTAGE)
        cut.up()

        def all_ended() -> bool:
            runs = where.runs()
            return len(runs) == RUNS and all(r.state.terminal for r in runs)

        wait_for(all_ended, 120, "every run to end after the outage", log)
        took = time.monotonic() - cut_at
    finally:
        codes = [stop_server(p, timeout=30) for p in procs]

    runs = where.runs()
    states = Counter(r.state for r in runs)
    assert states == {RunState.SUCCEEDED: RUNS}, (states, during)
    assert during[RunState.SUCCEEDED] < RUNS, "the outage must hit runs in flight"
    executed = Counter(tuple(line.split()) for line in executions.read_text().splitlines())
    assert set(executed) == {(r.id, "1") for r in runs}
    twice = [run for run, n in executed.items() if n > 1]
    assert not twice, f"runs executed twice: {twice[:5]}"
    assert all(r.attempt == 1 for r in runs)
    assert codes == [0, 0, 0], log.read_text()[-3000:]
    assert cut.accepted >= 3, "the processes must reach the broker through the proxy"
    print(f"outage {OUTAGE:.0f}s, all {RUNS} ended {took:.1f}s after the cut; during: {during}")
