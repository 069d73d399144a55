"""The alert keeper on every store: two keepers (two processes' store instances) passing
in turn raise a failure's alert once and deliver it once; the one that takes over after
the other's lease ran out carries on from the saved cursor, raising nothing again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tss.alerts.base import Channel
from tss.alerts.keeper import Keeper
from tss.config import AlertsConfig
from tss.core.alerts import Alert
from tss.core.models import Outcome
from tss.core.states import RunState
from tss.store.base import Store

from .support import ACTOR, error, new_run, spec


class Recording(Channel):
    """A channel that keeps what it is sent (the test reads it)."""

    type = "test"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)


ALERTS = AlertsConfig.model_validate(
    {"channels": {"log": {"type": "log"}}, "rules": ["dead", "recovered"]}
)


async def _fail(store: Store, job: str) -> None:
    [(run, _)] = await store.create_runs([new_run(job)], actor=ACTOR)
    [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=30)
    outcome = Outcome(claimed.id, 1, RunState.FAILED, error=error("disk full"))
    assert await store.finish_runs([outcome], actor="w1") == [True]


async def test_two_keepers_raise_and_deliver_once(
    store_factory: Callable[[], Awaitable[Store]], advance: Callable[[float], None]
) -> None:
    one_store, two_store = await store_factory(), await store_factory()
    await one_store.create_job(spec("nightly"), None)
    channel = Recording("log")
    one = Keeper(one_store, ALERTS, {"log": channel}, holder="one", ttl=1.0)
    two = Keeper(two_store, ALERTS, {"log": channel}, holder="two", ttl=1.0)
    assert await one.tick()
    assert not await two.tick()  # one holds the lease
    await _fail(two_store, "nightly")
    for _ in range(3):
        await one.tick()
        await two.tick()
        await one.drain()
    assert [a.kind for a in channel.sent] == ["dead"]
    advance(1.5)  # one stops passing; two takes over from the saved cursor
    assert await two.tick()
    await two.drain()
    await _fail(one_store, "nightly")  # grouped with the open condition: nothing new
    for _ in range(2):
        await two.tick()
        await two.drain()
    assert [a.kind for a in channel.sent] == ["dead"]
    listed = (await one_store.list_alerts()).items
    assert [(a.kind, a.state) for a in listed] == [("dead", "delivered")]
