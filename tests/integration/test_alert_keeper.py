"""The alert keeper against real receivers: a local SMTP server (aiosmtpd) and a local HTTP
receiver for Slack and signed webhooks, on loopback. The store is the memory store with a
clock the test moves; the keeper's passes are called one by one (no sleeps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest

from tests.conformance.support import FakeClock, error, new_run, seconds, spec
from tests.integration.receiver import Receiver, receiving
from tests.integration.smtp import FreePortController
from tss.alerts.channels import build_channels, signature
from tss.alerts.keeper import FIRST_LOOKBACK, LEASE, Keeper
from tss.config import AlertsConfig
from tss.core.models import Outcome, Run
from tss.core.states import RunState
from tss.metrics import Metrics
from tss.store.memory import MemoryStore

SECRET = "hook-signing-secret"


class Mailbox:
    """An aiosmtpd handler that keeps each message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = FreePortController(box, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def config(receiver: Receiver, smtp_port: int, **more: Any) -> AlertsConfig:
    data: dict[str, Any] = {
        "channels": {
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "from": "tss@example.com",
                "to": ["ops@example.com"],
            },
            "slack": {"type": "slack", "url": receiver.url("/slack")},
            "hook": {"type": "webhook", "url": receiver.url("/hook"), "secret": SECRET},
        },
        "rules": ["dead", "recovered"],
        "allow": ["127.0.0.1/32"],
        "link": "https://tss.example.com",
    }
    data.update(more)
    return AlertsConfig.model_validate(data)


_OPENED: list[Keeper] = []


@pytest.fixture(autouse=True)
def _close_channels(run: Any) -> Iterator[None]:
    yield
    while _OPENED:
        for channel in _OPENED.pop().channels.values():
            run(channel.aclose())


def keeper(store: MemoryStore, alerts: AlertsConfig, holder: str = "k1", **more: Any) -> Keeper:
    channels = build_channels(alerts)
    made = Keeper(store, alerts, channels, holder=holder, metrics=Metrics(), **more)
    _OPENED.append(made)
    return made


async def pass_(k: Keeper) -> None:
    """One pass, then the deliveries it started."""
    assert await k.tick()
    await k.drain(timeout=10)


async def ended(store: MemoryStore, job: str, target: RunState, **more: Any) -> Run:
    [(run, _)] = await store.create_runs([new_run(job, **more)], actor="test")
    [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=30)
    fields: dict[str, Any] = {}
    if target is not RunState.SUCCEEDED:
        fields["error"] = error("disk full")
    outcome = Outcome(run_id=claimed.id, attempt=1, target=target, **fields)
    assert await store.finish_runs([outcome], actor="w1") == [True]
    return await store.get_run(claimed.id)


def hooks(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    return [json.loads(s.body) for s in receiver.seen if s.path == path]


async def test_a_failing_job_alerts_once_per_channel_and_recovers_once(
    receiver: Receiver, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    store = MemoryStore(clock=FakeClock())
    await store.create_job(spec("nightly"), None)
    k = keeper(store, config(receiver, port))
    await pass_(k)  # the first keeper starts at the end of the log
    failed = await ended(store, "nightly", RunState.FAILED)
    await pass_(k)
    for _ in range(3):  # more failures of the same job: grouped, not sent again
        await ended(store, "nightly", RunState.FAILED)
        await pass_(k)
    assert len(box.messages) == 1
    mail = box.messages[0].content.decode()
    assert "Subject: [TSS] nightly failed: no tries left" in mail
    assert "disk full" in mail and f"https://tss.example.com/dashboard/runs/{failed.id}" in mail
    slack = hooks(receiver, "/slack")
    assert len(slack) == 1 and "nightly" in slack[0]["text"]
    [hook] = [s for s in receiver.seen if s.path == "/hook"]
    body = json.loads(hook.body)
    assert body["kind"] == "dead" and body["job"] == "nightly" and body["run_id"] == failed.id
    stamp = hook.headers["X-TSS-Timestamp"]
    assert hook.headers["X-TSS-Signature"] == signature(SECRET, stamp, hook.body.encode())
    assert hook.headers["X-TSS-Alert-Id"] == body["id"]

    await ended(store, "nightly", RunState.SUCCEEDED)
    await pass_(k)
    await ended(store, "nightly", RunState.SUCCEEDED)  # a second success: nothing more
    await pass_(k)
    assert len(box.messages) == 2 and "recovered" in box.messages[1].content.decode()
    assert [h["kind"] for h in hooks(receiver, "/hook")] == ["dead", "recovered"]
    assert len(hooks(receiver, "/slack")) == 2
    delivered = (await store.list_alerts(state="delivered", limit=100)).items
    assert sorted(a.channel for a in delivered) == [
        "hook",
        "hook",
        "mail",
        "mail",
        "slack",
        "slack",
    ]
    metrics = k.metrics
    assert metrics is not None
    exposed = generate_latest(metrics.registry).decode()
    assert 'tss_alerts_sent_total{channel="mail"} 2.0' in exposed
    assert 'tss_job_consecutive_failures{job="nightly"} 0.0' in exposed  # after the success
    assert 'tss_job_last_failure_timestamp_seconds{job="nightly"}' in exposed
    assert 'tss_job_last_success_timestamp_seconds{job="nightly"}' in exposed


async def test_a_restarted_keeper_neither_loses_nor_repeats(
    receiver: Receiver, mailbox: tuple[Mailbox, int]
) -> None:
    """The first keeper stores the alerts of a failure and dies before saving how far it
    read and before delivering; the next one (after the lease ran out) raises the same
    alerts again (stored once by id) and delivers each once."""
    _, port = mailbox
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.create_job(spec("etl"), None)
    alerts = config(
        receiver, port, channels={"hook": {"type": "webhook", "url": receiver.url("/hook")}}
    )
    first = keeper(store, alerts, "k1")
    await pass_(first)
    await ended(store, "etl", RunState.FAILED)
    saved = await store.take_lease(LEASE, "k1", 30)
    assert saved is not None
    # k1 raises and stores, then "dies" before save_lease: the saved cursor stays behind
    now = await store.now()
    raised = await first._read_events(now)  # the pass's first half, as it would run
    assert [a.kind for a in raised] == ["dead"]
    await store.add_alerts(raised)
    assert await store.take_lease(LEASE, "k2", 30) is None  # k1's lease still holds
    clock.advance(31)
    second = keeper(store, alerts, "k2")
    await pass_(second)
    await pass_(second)
    got = hooks(receiver, "/hook")
    assert len(got) == 1 and got[0]["id"] == raised[0].id
    assert (await store.get_alert(raised[0].id)).state == "delivered"


async def test_a_channel_that_is_down_is_retried_with_back_off(receiver: Receiver) -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.create_job(spec("sync"), None)
    alerts = AlertsConfig.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": receiver.url("/flaky/sync/2")}},
            "rules": ["dead"],
            "allow": ["127.0.0.1/32"],
            "retry_delay": 5,
        }
    )
    k = keeper(store, alerts)
    await pass_(k)
    await ended(store, "sync", RunState.FAILED)
    first = clock.value
    await pass_(k)
    [alert] = (await store.list_alerts()).items
    assert alert.state == "pending" and alert.attempts == 1 and "429" in (alert.error or "")
    # A try is dated by the store's clock plus the real time the send took: the next one is
    # due retry_delay after, a little more. The test moves its clock to the due times.
    assert seconds(5) <= alert.next_at - first < seconds(6)
    await pass_(k)  # not due yet: not tried again
    assert receiver.calls["sync"] == 1
    clock.value = alert.next_at
    second = clock.value
    await pass_(k)
    assert receiver.calls["sync"] == 2
    again = await store.get_alert(alert.id)
    assert again.state == "pending" and again.attempts == 2
    assert seconds(10) <= again.next_at - second < seconds(11)  # doubled
    clock.value = again.next_at - seconds(1)
    await pass_(k)
    assert receiver.calls["sync"] == 2
    clock.value = again.next_at
    await pass_(k)
    assert receiver.calls["sync"] == 3
    done = await store.get_alert(alert.id)
    assert done.state == "delivered" and done.attempts == 3


async def test_the_rate_limit_holds_the_rest_and_sums_them_up(receiver: Receiver) -> None:
    minute = [0.0]
    store = MemoryStore(clock=FakeClock())
    alerts = AlertsConfig.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": receiver.url("/hook")}},
            "rules": ["dead"],
            "allow": ["127.0.0.1/32"],
            "rate_limit": 2,
        }
    )
    k = keeper(store, alerts, clock=lambda: minute[0])
    for i in range(5):
        await store.create_job(spec(f"job-{i}"), None)
    await pass_(k)
    for i in range(5):
        await ended(store, f"job-{i}", RunState.FAILED)
    await pass_(k)
    assert len(hooks(receiver, "/hook")) == 2
    held = (await store.list_alerts(state="held")).items
    assert len(held) == 3
    minute[0] += 61
    await pass_(k)  # the summary is made
    await pass_(k)  # and sent
    kinds = [h["kind"] for h in hooks(receiver, "/hook")]
    assert kinds == ["dead", "dead", "summary"]
    assert "3 more alerts" in hooks(receiver, "/hook")[-1]["text"]


async def test_a_silenced_job_is_recorded_not_sent(receiver: Receiver) -> None:
    from tss.core.alerts import Silence

    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.create_job(spec("noisy"), None)
    alerts = AlertsConfig.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": receiver.url("/hook")}},
            "rules": ["failed"],
            "allow": ["127.0.0.1/32"],
        }
    )
    k = keeper(store, alerts)
    await pass_(k)
    now = await store.now()
    await store.put_silence(Silence("noisy", now + timedelta(hours=1), "known", "ops", now))
    await ended(store, "noisy", RunState.FAILED)
    await pass_(k)
    assert hooks(receiver, "/hook") == []
    [alert] = (await store.list_alerts()).items
    assert alert.state == "silenced" and "known" in (alert.error or "")


async def test_missed_fires_alert_once_whoever_keeps(receiver: Receiver) -> None:
    """A job whose next fire passed with no scheduler running: one `missed` alert, whichever
    of two keepers holds the lease; a keeper taking over does not repeat it."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    alerts = AlertsConfig.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": receiver.url("/hook")}},
            "rules": [{"on": "missed", "after": 60}],
            "allow": ["127.0.0.1/32"],
        }
    )
    now = await store.now()
    schedule = {"every": 600}
    await store.create_job(spec("hourly", schedule=schedule), now + timedelta(seconds=10))
    one = keeper(store, alerts, "k1", check_every=0)
    two = keeper(store, alerts, "k2", check_every=0)
    await pass_(one)
    clock.advance(60)  # 50 s overdue: within the bound
    await pass_(one)
    assert hooks(receiver, "/hook") == []
    clock.advance(30)  # 80 s overdue
    await pass_(one)
    assert not await two.tick()  # one holds the lease
    clock.advance(31)
    assert await two.tick()  # one stopped passing: two took over
    await two.drain()
    await pass_(two)
    [hook] = hooks(receiver, "/hook")
    assert hook["kind"] == "missed" and hook["job"] == "hourly"
    assert one.metrics is not None
    exposed = generate_latest(one.metrics.registry).decode()
    assert 'tss_missed_fires_total{job="hourly"} 1.0' in exposed
    assert "should have fired" in hook["text"]


async def test_a_late_start_and_a_slow_run_alert(receiver: Receiver) -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    alerts = AlertsConfig.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": receiver.url("/hook")}},
            "rules": [{"on": "late", "after": 30}, {"on": "slow", "seconds": 100}],
            "allow": ["127.0.0.1/32"],
        }
    )
    await store.create_job(spec("report"), None)
    k = keeper(store, alerts)
    await pass_(k)
    due = (await store.now()) - timedelta(seconds=45)
    [(run, _)] = await store.create_runs(
        [new_run("report", trigger="schedule", scheduled_for=due)], actor="scheduler:s1"
    )
    [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=300)
    clock.advance(120)
    outcome = Outcome(run_id=claimed.id, attempt=1, target=RunState.SUCCEEDED)
    assert await store.finish_runs([outcome], actor="w1") == [True]
    await pass_(k)
    kinds = sorted(h["kind"] for h in hooks(receiver, "/hook"))
    assert kinds == ["late", "slow"]
    late = next(h for h in hooks(receiver, "/hook") if h["kind"] == "late")
    assert late["details"]["lateness"] >= 45


async def test_the_first_keeper_reads_recent_events_not_the_history(receiver: Receiver) -> None:
    """A store whose keeper never ran: a failure older than the look-back raises nothing,
    one from the minutes before the keeper started (its server starting up) does."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    alerts = AlertsConfig.model_validate(
        {
            "channels": {"hook": {"type": "webhook", "url": receiver.url("/hook")}},
            "rules": ["dead"],
            "allow": ["127.0.0.1/32"],
        }
    )
    for name in ("old", "new"):
        await store.create_job(spec(name), None)
    for _ in range(3):
        await ended(store, "old", RunState.FAILED)
    clock.advance(FIRST_LOOKBACK + 60)
    await ended(store, "new", RunState.FAILED)
    clock.advance(30)
    await pass_(keeper(store, alerts))
    assert [h["job"] for h in hooks(receiver, "/hook")] == ["new"]


async def test_a_channel_that_hangs_delays_only_its_own_alerts(receiver: Receiver) -> None:
    """One channel's host accepts connections and never answers: the other channel's
    alert is delivered at once, and the hanging one is retried after its timeout."""
    import asyncio
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(10)
    try:
        store = MemoryStore(clock=FakeClock())
        await store.create_job(spec("etl"), None)
        alerts = AlertsConfig.model_validate(
            {
                "channels": {
                    "stuck": {
                        "type": "webhook",
                        "url": f"http://127.0.0.1:{silent.getsockname()[1]}/hook",
                        "timeout": 2,
                    },
                    "hook": {"type": "webhook", "url": receiver.url("/hook")},
                },
                "rules": ["dead"],
                "allow": ["127.0.0.1/32"],
            }
        )
        k = keeper(store, alerts)
        await pass_(k)
        await ended(store, "etl", RunState.FAILED)
        began = time.monotonic()
        assert await k.tick()
        while not hooks(receiver, "/hook"):
            assert time.monotonic() - began < 1.5, "the good channel waited for the stuck one"
            await asyncio.sleep(0.02)
        await k.drain(timeout=10)
        stuck = (await store.list_alerts(channel="stuck")).items[0]
        assert stuck.state == "pending" and stuck.attempts == 1
        assert (await store.list_alerts(channel="hook")).items[0].state == "delivered"
    finally:
        silent.close()
