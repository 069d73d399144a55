"""Alerts in the store (every backend): stored once by id, delivered when due, settled,
listed newest first with cursors; the keeper's lease holds one holder and fences saves;
silences last until their end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from tss.core.alerts import Alert, AlertUpdate, Silence
from tss.errors import NotFound, ValidationError
from tss.store.base import Store

from .support import seconds


def alert(alert_id: str, at: datetime, **fields: object) -> Alert:
    data: dict[str, object] = {
        "channel": "ops",
        "kind": "failed",
        "subject": f"job-a failed ({alert_id})",
        "text": "job-a failed: boom",
        "created_at": at,
        "next_at": at,
        "job": "job-a",
        "run_id": "r1",
        "details": {"error": "boom", "nested": {"n": 1}},
    }
    data.update(fields)
    return Alert(id=alert_id, **data)  # type: ignore[arg-type]


async def test_an_alert_is_stored_once_by_its_id(store: Store) -> None:
    now = await store.now()
    first = alert("failed:job-a:7@ops", now)
    assert await store.add_alerts([first, alert("failed:job-a:7@mail", now, channel="mail")]) == [
        True,
        True,
    ]
    again = alert("failed:job-a:7@ops", now, text="another text")
    assert await store.add_alerts([again]) == [False]
    got = await store.get_alert("failed:job-a:7@ops")
    assert got.text == "job-a failed: boom"
    assert got.details == {"error": "boom", "nested": {"n": 1}}
    assert got.state == "pending" and got.attempts == 0 and got.sent_at is None
    assert got.created_at == first.created_at
    with pytest.raises(NotFound):
        await store.get_alert("nope")


async def test_due_alerts_are_pending_ones_whose_time_came(
    store: Store, advance: Callable[[float], None]
) -> None:
    now = await store.now()
    await store.add_alerts(
        [
            alert("a@ops", now),
            alert("b@ops", now, next_at=now + seconds(30)),
            alert("c@ops", now - seconds(5), next_at=now - seconds(5)),
        ]
    )
    assert [a.id for a in await store.due_alerts(limit=10)] == ["c@ops", "a@ops"]
    assert [a.id for a in await store.due_alerts(limit=1)] == ["c@ops"]
    sent = await store.now()
    await store.settle_alerts(
        [
            AlertUpdate("c@ops", "delivered", 1, sent_at=sent),
            AlertUpdate("a@ops", "pending", 1, next_at=now + seconds(60), error="refused"),
            AlertUpdate("unknown@ops", "delivered", 1),
        ]
    )
    assert await store.due_alerts(limit=10) == []
    delivered = await store.get_alert("c@ops")
    assert delivered.state == "delivered" and delivered.attempts == 1
    assert delivered.sent_at == sent
    retried = await store.get_alert("a@ops")
    assert retried.state == "pending" and retried.error == "refused" and retried.attempts == 1
    advance(31)
    assert [a.id for a in await store.due_alerts(limit=10)] == ["b@ops"]
    await store.settle_alerts([AlertUpdate("b@ops", "failed", 5, error="gave up")])
    gone = await store.get_alert("b@ops")
    assert gone.state == "failed" and gone.error == "gave up"
    assert gone.next_at == now + seconds(30)  # a None next_at leaves it


async def test_alerts_list_newest_first_with_filters_and_cursors(store: Store) -> None:
    now = await store.now()
    made = [
        alert(f"x{i}@ops", now + seconds(i), job="job-a" if i % 2 else "job-b") for i in range(7)
    ]
    made.append(alert("y@mail", now + seconds(3), channel="mail", state="silenced", job="job-b"))
    await store.add_alerts(made)
    page = await store.list_alerts(limit=3)
    assert [a.id for a in page.items] == ["x6@ops", "x5@ops", "x4@ops"]
    seen = [a.id for a in page.items]
    while page.next_cursor is not None:
        page = await store.list_alerts(limit=3, cursor=page.next_cursor)
        seen += [a.id for a in page.items]
    assert seen == ["x6@ops", "x5@ops", "x4@ops", "y@mail", "x3@ops", "x2@ops", "x1@ops", "x0@ops"]
    jobs = await store.list_alerts(job="job-a")
    assert [a.id for a in jobs.items] == ["x5@ops", "x3@ops", "x1@ops"]
    assert jobs.next_cursor is None
    assert [a.id for a in (await store.list_alerts(state="silenced")).items] == ["y@mail"]
    assert [a.id for a in (await store.list_alerts(channel="mail")).items] == ["y@mail"]
    with pytest.raises(ValidationError) as bad:
        await store.list_alerts(cursor="garbage")
    assert bad.value.field == "cursor"
    with pytest.raises(ValidationError) as bad:
        await store.list_alerts(limit=0)
    assert bad.value.field == "limit"
    with pytest.raises(ValidationError) as bad:
        await store.list_alerts(state="lost")
    assert bad.value.field == "state"


async def test_a_lease_has_one_holder_until_it_expires(
    store_factory: Callable[[], object], advance: Callable[[float], None]
) -> None:
    one: Store = await store_factory()  # type: ignore[misc]
    two: Store = await store_factory()  # type: ignore[misc]
    assert await one.take_lease("alerts", "a", 5.0) == {}
    assert await two.take_lease("alerts", "b", 5.0) is None
    assert await one.save_lease("alerts", "a", {"cursor": 12, "open": {"x": [1, "y"]}})
    assert not await two.save_lease("alerts", "b", {"cursor": 99})
    assert await one.take_lease("alerts", "a", 5.0) == {"cursor": 12, "open": {"x": [1, "y"]}}
    assert await two.take_lease("other", "b", 5.0) == {}  # leases are by name
    advance(6.0)
    assert await two.take_lease("alerts", "b", 5.0) == {"cursor": 12, "open": {"x": [1, "y"]}}
    assert not await one.save_lease("alerts", "a", {"cursor": 13})  # fenced: b holds it
    assert await one.take_lease("alerts", "a", 5.0) is None
    assert await two.save_lease("alerts", "b", {"cursor": 14})
    assert await two.take_lease("alerts", "b", 5.0) == {"cursor": 14}


async def test_a_released_lease_is_taken_at_once_with_its_state(store: Store) -> None:
    assert await store.take_lease("retention", "a", 30.0) == {}
    assert await store.save_lease("retention", "a", {"last": "x"})
    await store.release_lease("retention", "b")  # not b's: nothing happens
    assert await store.take_lease("retention", "b", 30.0) is None
    await store.release_lease("retention", "a")
    assert await store.take_lease("retention", "b", 30.0) == {"last": "x"}
    assert await store.take_lease("retention", "a", 30.0) is None


async def test_silences_last_until_their_end(
    store: Store, advance: Callable[[float], None]
) -> None:
    now = await store.now()
    await store.put_silence(Silence("job-b", now + seconds(10), "maintenance", "ops", now))
    await store.put_silence(Silence("job-a", now + seconds(100), "known issue", "ops", now))
    assert [s.job for s in await store.list_silences()] == ["job-a", "job-b"]
    await store.put_silence(Silence("job-a", now + seconds(5), "shorter", "root", now))
    silences = {s.job: s for s in await store.list_silences()}
    assert silences["job-a"].note == "shorter" and silences["job-a"].by == "root"
    assert silences["job-a"].until == now + seconds(5)
    advance(6)
    assert [s.job for s in await store.list_silences()] == ["job-b"]
    assert await store.delete_silence("job-b")
    assert not await store.delete_silence("job-b")
    assert await store.list_silences() == []
