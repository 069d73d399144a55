"""The Redis store's alerts: the messages to deliver, the alert keeper's lease and silences.

Keys (``K`` is ``<prefix>:store:``; times are microseconds since the epoch):

=======================  =================================================================
``K alert:<id>``         hash: one alert (``codec.alert_fields``); ``details`` is its JSON
``K alerts``             zset of every alert, score 0, member ``<created>:<id>``
                         (``codec.alert_member``): newest first is a reverse lex range
``K job-alerts:<job>``   the same, of one job's alerts
``K alerts-due``         zset of the ``pending`` alerts: id -> next_at
``K lease:<name>``       hash: holder, until, state (JSON, the keeper's saved state)
``K silences``           hash job -> its silence (JSON: until, note, by, created)
=======================  =================================================================

Adding, settling and the lease are scripts (``scripts/alerts.lua``): an alert is stored
with its index entries, or not at all; due alerts are read against Redis ``TIME``. A
listing filtered by state or channel walks the (job's) index newest first, a chunk at a
time, until the page is full.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson

from tss.core.alerts import Alert, AlertUpdate, Silence
from tss.core.models import Page
from tss.core.timeutil import from_micros, to_micros
from tss.errors import NotFound
from tss.store import encoding
from tss.store.paging import alert_after, alert_cursor, check_alert_listing
from tss.store.redis import codec, scripts
from tss.store.redis.connection import BATCH, RedisPart
from tss.store.roles import AlertStore

log = logging.getLogger(__name__)
#: alerts read per step of a listing filtered by state or channel (at least a page)
_CHUNK = 200


class RedisAlerts(RedisPart, AlertStore):
    """The alerts part of :class:`~tss.store.redis.RedisStore`."""

    async def add_alerts(self, alerts: Sequence[Alert]) -> list[bool]:
        if not alerts:
            return []
        items = [_alert_item(alert) for alert in alerts]
        # One script for the batch: the store's one transaction.
        added = await self._conn.eval(scripts.ADD_ALERTS, orjson.dumps(items))
        return [bool(flag) for flag in added]

    async def due_alerts(self, *, limit: int) -> list[Alert]:
        if limit <= 0:
            return []
        found = await self._conn.eval(scripts.DUE_ALERTS, str(limit))
        return [codec.alert_of(codec.pairs(flat)) for flat in found]

    async def settle_alerts(self, updates: Sequence[AlertUpdate]) -> None:
        for part in encoding.chunks([_update_item(update) for update in updates], BATCH):
            await self._conn.eval(scripts.SETTLE_ALERTS, orjson.dumps(list(part)))

    async def list_alerts(
        self,
        *,
        job: str | None = None,
        state: str | None = None,
        channel: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        check_alert_listing(limit, state)
        after = alert_after(cursor)
        index = f"{self.keys}alerts" if job is None else f"{self.keys}job-alerts:{job}"
        upper = "+" if after is None else f"({codec.alert_member(*after)}"
        filtered = state is not None or channel is not None
        chunk = max(limit + 1, _CHUNK) if filtered else limit + 1
        found: list[tuple[str, Alert]] = []
        while len(found) <= limit:
            with self._conn.errors():
                members = await self._conn.client().zrevrangebylex(
                    index, upper, "-", start=0, num=chunk
                )
            ids = [codec.alert_key(member)[1] for member in members]
            hashes = await self._conn.hashes([f"{self.keys}alert:{i}" for i in ids])
            for member, alert_id, h in zip(members, ids, hashes, strict=True):
                if not h:
                    continue
                alert = codec.alert_of(h, alert_id)
                if (state is None or alert.state == state) and (
                    channel is None or alert.channel == channel
                ):
                    found.append((member, alert))
            if len(members) < chunk:
                break
            upper = f"({members[-1]}"
        page = found[:limit]
        # The cursor is the index's key of the last alert, not what its record says.
        more = len(found) > limit and page
        next_cursor = alert_cursor(*codec.alert_key(page[-1][0])) if more else None
        return Page([alert for _, alert in page], next_cursor)

    async def get_alert(self, alert_id: str) -> Alert:
        [found] = await self._conn.hashes([f"{self.keys}alert:{alert_id}"])
        if not found:
            raise NotFound.alert(alert_id)
        return codec.alert_of(found, alert_id)

    # -- the keeper's lease ----------------------------------------------------------------

    async def take_lease(self, name: str, holder: str, ttl: float) -> dict[str, Any] | None:
        text = await self._conn.eval(
            scripts.TAKE_LEASE, name, holder, str(encoding.seconds_us(ttl))
        )
        if text is None:
            return None
        try:
            state = orjson.loads(text)
        except orjson.JSONDecodeError:
            state = None
        if not isinstance(state, dict):
            log.warning("the state saved with lease %r is malformed and was dropped", name)
            return {}
        return state

    async def save_lease(self, name: str, holder: str, state: dict[str, Any]) -> bool:
        saved = await self._conn.eval(scripts.SAVE_LEASE, name, holder, encoding.dumps(state))
        return bool(saved)

    # -- silences --------------------------------------------------------------------------

    async def put_silence(self, silence: Silence) -> None:
        with self._conn.errors():
            await self._conn.client().hset(
                f"{self.keys}silences", silence.job, codec.silence_text(silence)
            )

    async def delete_silence(self, job: str) -> bool:
        with self._conn.errors():
            return bool(await self._conn.client().hdel(f"{self.keys}silences", job))

    async def list_silences(self) -> list[Silence]:
        clock, stored = await self._conn.pipe(
            lambda pipe: [pipe.time(), pipe.hgetall(f"{self.keys}silences")]
        )
        now = from_micros(int(clock[0]) * 1_000_000 + int(clock[1]))
        silences = [codec.silence_of(job, text) for job, text in stored.items()]
        return sorted((s for s in silences if s is not None and s.until > now), key=lambda s: s.job)


def _alert_item(alert: Alert) -> dict[str, Any]:
    """A new alert as the ``add_alerts`` script takes it."""
    item: dict[str, Any] = {
        "id": alert.id,
        "m": codec.alert_member(to_micros(alert.created_at), alert.id),
        "next": codec.micros_text(alert.next_at),
        "state": alert.state,
        "f": codec.alert_fields(alert),
    }
    if alert.job is not None:
        item["job"] = alert.job
    return item


def _update_item(update: AlertUpdate) -> dict[str, Any]:
    """An update as the ``settle_alerts`` script takes it (None values left out)."""
    item: dict[str, Any] = {
        "id": update.id,
        "state": update.state,
        "attempts": str(update.attempts),
    }
    optional = {
        "next": codec.micros_text(update.next_at),
        "error": update.error,
        "sent": codec.micros_text(update.sent_at),
    }
    item.update((key, value) for key, value in optional.items() if value is not None)
    return item
