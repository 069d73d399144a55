"""The memory store's alerts: a dict of frozen records, leases and silences."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from tss.core.alerts import Alert, AlertUpdate, Silence
from tss.core.models import Page
from tss.core.timeutil import to_micros, to_utc
from tss.errors import NotFound
from tss.store.memory.state import MemoryState
from tss.store.paging import alert_after, alert_cursor, check_alert_listing


def _stored(alert: Alert) -> Alert:
    return replace(
        alert,
        created_at=to_utc(alert.created_at),
        next_at=to_utc(alert.next_at),
        sent_at=None if alert.sent_at is None else to_utc(alert.sent_at),
        details=copy.deepcopy(alert.details),
    )


class MemoryAlerts(MemoryState):
    """:class:`~tss.store.roles.AlertStore` in memory."""

    async def add_alerts(self, alerts: Sequence[Alert]) -> list[bool]:
        added: list[bool] = []
        with self._lock:
            for alert in alerts:
                fresh = alert.id not in self._alerts
                if fresh:
                    self._alerts[alert.id] = _stored(alert)
                added.append(fresh)
        return added

    async def due_alerts(self, *, limit: int) -> list[Alert]:
        with self._lock:
            now = self._now()
            due = [a for a in self._alerts.values() if a.state == "pending" and a.next_at <= now]
        due.sort(key=lambda a: (a.next_at, a.id))
        return due[:limit]

    async def settle_alerts(self, updates: Sequence[AlertUpdate]) -> None:
        with self._lock:
            for update in updates:
                found = self._alerts.get(update.id)
                if found is None:
                    continue
                self._alerts[update.id] = replace(
                    found,
                    state=update.state,
                    attempts=update.attempts,
                    next_at=found.next_at if update.next_at is None else to_utc(update.next_at),
                    error=update.error,
                    sent_at=None if update.sent_at is None else to_utc(update.sent_at),
                )

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
        with self._lock:
            found = [
                a
                for a in self._alerts.values()
                if (job is None or a.job == job)
                and (state is None or a.state == state)
                and (channel is None or a.channel == channel)
            ]
        keyed = sorted(((to_micros(a.created_at), a.id), a) for a in found)
        keyed.reverse()
        if after is not None:
            keyed = [(k, a) for k, a in keyed if k < after]
        page = [a for _, a in keyed[:limit]]
        more = len(keyed) > limit
        last = page[-1] if page else None
        next_cursor = (
            alert_cursor(to_micros(last.created_at), last.id) if more and last is not None else None
        )
        return Page(page, next_cursor)

    async def get_alert(self, alert_id: str) -> Alert:
        with self._lock:
            found = self._alerts.get(alert_id)
        if found is None:
            raise NotFound.alert(alert_id)
        return found

    async def take_lease(self, name: str, holder: str, ttl: float) -> dict[str, Any] | None:
        with self._lock:
            now = self._now()
            held = self._leases.get(name)
            if held is not None and held[0] != holder and held[1] > now:
                return None
            state = held[2] if held is not None else {}
            self._leases[name] = (holder, now + timedelta(seconds=ttl), state)
            return copy.deepcopy(state)

    async def save_lease(self, name: str, holder: str, state: dict[str, Any]) -> bool:
        with self._lock:
            held = self._leases.get(name)
            if held is None or held[0] != holder:
                return False
            self._leases[name] = (holder, held[1], copy.deepcopy(state))
            return True

    async def put_silence(self, silence: Silence) -> None:
        with self._lock:
            self._silences[silence.job] = replace(
                silence, until=to_utc(silence.until), created_at=to_utc(silence.created_at)
            )

    async def delete_silence(self, job: str) -> bool:
        with self._lock:
            return self._silences.pop(job, None) is not None

    async def list_silences(self) -> list[Silence]:
        with self._lock:
            now = self._now()
            return sorted(
                (s for s in self._silences.values() if s.until > now), key=lambda s: s.job
            )
