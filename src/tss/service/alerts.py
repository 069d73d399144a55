"""What the faces do with alerts: list what was sent, send a test, silence a job."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import uuid4

from tss.alerts import messages
from tss.alerts.base import DeliveryError
from tss.core.alerts import MAX_NOTE, MAX_SILENCE, Alert, Silence
from tss.core.models import Page
from tss.errors import NotFound, ValidationError
from tss.service.base import NodeService


class Alerts(NodeService):
    """Alerts sent and to send, tests, silences."""

    async def list_alerts(
        self,
        *,
        job: str | None = None,
        state: str | None = None,
        channel: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Alerts, newest first.

        :raises ValidationError: a bad limit, state or cursor, naming it.
        """
        return await self._store.list_alerts(
            job=job, state=state, channel=channel, limit=limit, cursor=cursor
        )

    async def get(self, alert_id: str) -> Alert:
        """:raises NotFound: no such alert."""
        return await self._store.get_alert(alert_id)

    async def test(self, channel: str, *, by: str) -> Alert:
        """Send a test message through ``channel`` now and record it (delivered, or failed
        with the reason).

        :raises NotFound: no channel of that name (field ``channel``).
        """
        channels = await self._node.alert_channels()
        target = channels.get(channel)
        if target is None:
            have = ", ".join(sorted(channels)) or "none is configured"
            raise NotFound(f"no alert channel named {channel!r} ({have})", field="channel")
        now = await self._store.now()
        message = messages.test_message(channel, by, self._node.settings.alerts.link)
        alert = message.alert("test", channel, uuid4().hex, channel, now)
        try:
            await target.send(alert)
        except DeliveryError as exc:
            done = replace(alert, state="failed", attempts=1, error=str(exc))
        else:
            done = replace(alert, state="delivered", attempts=1, sent_at=now)
        await self._store.add_alerts([done])
        return done

    async def silence(
        self,
        job: str,
        *,
        note: str,
        by: str,
        until: datetime | None = None,
        duration: float | None = None,
    ) -> Silence:
        """Silence ``job``'s alerts until ``until`` (or for ``duration`` seconds): they are
        still recorded, marked silenced, and not sent.

        :raises NotFound: no such job.
        :raises ValidationError: neither or both of until and duration, a time not in the
            future or more than a year ahead, or a note too long (naming the field).
        """
        await self._store.get_job(job)
        now = await self._store.now()
        if (until is None) == (duration is None):
            raise ValidationError("give until (a time) or duration (seconds)", field="until")
        if duration is not None:
            if not 0 < duration <= MAX_SILENCE:
                raise ValidationError(
                    f"duration must be more than 0 and at most {MAX_SILENCE:g} seconds",
                    field="duration",
                )
            until = now + timedelta(seconds=duration)
        assert until is not None
        if until.tzinfo is None:
            raise ValidationError("until needs a time zone (2026-12-07T09:00:00Z)", field="until")
        if not now < until <= now + timedelta(seconds=MAX_SILENCE):
            raise ValidationError("until must be in the future, within a year", field="until")
        if len(note) > MAX_NOTE:
            raise ValidationError(f"note is longer than {MAX_NOTE} characters", field="note")
        made = Silence(job, until, note, by, now)
        await self._store.put_silence(made)
        await self._node.audit.record(by, "silence.put", job, until=until.isoformat(), note=note)
        return made

    async def unsilence(self, job: str, *, actor: str = "user") -> None:
        """:raises NotFound: the job has no silence (field ``name``)."""
        if not await self._store.delete_silence(job):
            raise NotFound(f"job {job!r} is not silenced", field="name")
        await self._node.audit.record(actor, "silence.delete", job)

    async def silences(self) -> list[Silence]:
        """Silences not yet over, by job."""
        return await self._store.list_silences()
