"""Rows of the SQL stores, by name: one ``NamedTuple`` per column list, and the records
they decode to (see :mod:`tss.store.sql.schema` for the columns).

A row read from the driver (a SQLAlchemy ``Row``, an asyncpg ``Record``) is turned into
its named tuple first, so no code reads a column by its position. The run row is
:class:`tss.store.encoding.RunRow`: the Redis store keeps runs in the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import orjson

from tss.core.alerts import Alert, AlertUpdate, Silence
from tss.core.models import Attempt, Event, Job, JobSpec, NewRun, Role, Run, Token, WorkerInfo
from tss.core.records import DashboardSession, PauseInfo
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import WorkerState
from tss.store.encoding import (
    STATES,
    RunRow,
    created_run,
    dumps,
    error_of,
    loads_or_none,
    micros,
    policy_text,
    spec_of,
    spec_text,
    when,
)


class JobRow(NamedTuple):
    """What a job listing reads of a job (``JOB_COLUMNS``)."""

    name: str
    spec: str
    next_fire_at: int | None
    created_at: int
    updated_at: int
    version: int
    pause: str | None


def pause_values(pause: PauseInfo | None) -> tuple[str | None, int | None]:
    """``pause, pause_until`` for a job row: the pause as JSON, and its end time."""
    if pause is None:
        return None, None
    return dumps(pause.to_dict()), micros(pause.until)


def pause_of(text: str | None) -> PauseInfo | None:
    """The pause stored as ``text`` (None: none, or the job is not paused)."""
    return PauseInfo.from_dict(loads_or_none(text))


def job_values(spec: JobSpec) -> tuple[str, str, str, str, bool]:
    """``spec, type, pool, tags, paused`` for a job row."""
    return spec_text(spec), spec.type, spec.pool, dumps(spec.tags), spec.paused


def job_of(values: Sequence[Any]) -> Job:
    r = JobRow._make(values)
    return Job(
        spec_of(r.spec, r.name),
        from_micros(r.created_at),
        from_micros(r.updated_at),
        when(r.next_fire_at),
        r.version,
        pause_of(r.pause),
    )


def new_run_row(new: NewRun, now_us: int) -> tuple[Run, RunRow]:
    """The run as it will be stored, and its ``RUN_INSERT`` row."""
    queued_us = now_us if new.state is RunState.QUEUED else None
    finished_us = now_us if new.state.terminal else None
    params = dumps(new.params)
    # In RunRow order (a plain tuple made a RunRow: this is the fire path).
    row = RunRow._make((
        new.id, new.job, new.state.value, new.trigger, params, new.priority, new.pool,
        policy_text(new.policy), 0, now_us, now_us, micros(new.scheduled_for),
        micros(new.not_before), queued_us, None, finished_us, None, None,
        new.idempotency_key, None, None, new.reason, new.retry_of, new.flow_id, 0,
    ))  # fmt: skip
    return created_run(new, now_us, params), row


class FinishRow(NamedTuple):
    """What fencing a finish needs of a run (``FINISH_COLUMNS``)."""

    id: str
    state: str
    attempt: int
    lease_until: int | None
    job: str
    not_before: int | None
    queued_at: int | None
    published_at: int | None
    flow_id: str | None


class FinishedRun(NamedTuple):
    """``FINISH_RUN`` parameters: one accepted finish."""

    state: str
    updated_at: int
    finished_at: int | None
    not_before: int | None
    queued_at: int | None
    published_at: int | None
    error: str | None
    result: str | None
    reason: str | None
    handed_back: int
    id: str


class FinishedAttempt(NamedTuple):
    """``FINISH_ATTEMPT`` parameters: the attempt an accepted finish closes."""

    state: str
    finished_at: int
    error: str | None
    result: str | None
    stdout: str
    stderr: str
    run_id: str
    number: int


class AttemptRow(NamedTuple):
    run_id: str
    number: int
    worker_id: str | None
    state: str
    started_at: int
    finished_at: int | None
    error: str | None
    result: str | None
    stdout: str
    stderr: str


def attempt_of(values: Sequence[Any]) -> Attempt:
    r = AttemptRow._make(values)
    return Attempt(
        run_id=r.run_id,
        number=r.number,
        worker_id=r.worker_id,
        state=STATES[r.state],
        started_at=from_micros(r.started_at),
        finished_at=when(r.finished_at),
        error=error_of(r.error),
        result=loads_or_none(r.result),
        stdout=r.stdout,
        stderr=r.stderr,
    )


class EventRow(NamedTuple):
    """An event as read (``EVENT_COLUMNS``)."""

    id: int
    at: int
    run_id: str
    job: str
    source: str | None
    target: str
    actor: str
    reason: str | None
    attempt: int


class NewEvent(NamedTuple):
    """An event to write (``EVENT_INSERT`` parameters): one state change of a run."""

    at: int
    run_id: str
    job: str
    source: str | None
    target: str
    reason: str | None
    attempt: int
    actor: str


def event_of(values: Sequence[Any]) -> Event:
    r = EventRow._make(values)
    return Event(
        id=r.id,
        at=from_micros(r.at),
        run_id=r.run_id,
        job=r.job,
        source=None if r.source is None else STATES[r.source],
        target=STATES[r.target],
        actor=r.actor,
        reason=r.reason,
        attempt=r.attempt,
    )


class WorkerRow(NamedTuple):
    id: str
    hostname: str
    pid: int
    pools: str
    task_types: str
    concurrency: int
    cores: float
    memory: int
    version: str
    state: str
    started_at: int | None
    last_heartbeat: int | None
    running: int
    labels: str


def worker_values(info: WorkerInfo, started_us: int, now_us: int) -> WorkerRow:
    """``WORKER_UPSERT`` parameters: the worker as it registers, up, with its running count."""
    return WorkerRow(
        id=info.id, hostname=info.hostname, pid=info.pid, pools=dumps(list(info.pools)),
        task_types=dumps(list(info.task_types)), concurrency=info.concurrency,
        cores=float(info.cores), memory=info.memory, version=info.version, state="up",
        started_at=started_us, last_heartbeat=now_us, running=info.running,
        labels=dumps(list(info.labels)),
    )  # fmt: skip


def worker_of(values: Sequence[Any]) -> WorkerInfo:
    r = WorkerRow._make(values)
    return WorkerInfo(
        id=r.id,
        hostname=r.hostname,
        pid=r.pid,
        pools=orjson.loads(r.pools),
        task_types=orjson.loads(r.task_types),
        concurrency=r.concurrency,
        cores=r.cores,
        memory=r.memory,
        version=r.version,
        state=cast(WorkerState, r.state),  # written from WORKER_STATES only
        started_at=when(r.started_at),
        last_heartbeat=when(r.last_heartbeat),
        running=r.running,
        labels=orjson.loads(r.labels),
    )


class TokenRow(NamedTuple):
    id: str
    name: str
    role: str
    secret_hash: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None


def token_values(token: Token) -> TokenRow:
    """A token row, in ``TOKEN_COLUMNS`` order."""
    return TokenRow(
        token.id, token.name, token.role, token.secret_hash, to_micros(token.created_at),
        micros(token.expires_at), micros(token.revoked_at), micros(token.last_used_at),
    )  # fmt: skip


def token_of(values: Sequence[Any]) -> Token:
    r = TokenRow._make(values)
    return Token(
        id=r.id,
        name=r.name,
        role=cast(Role, r.role),  # written from a Role
        secret_hash=r.secret_hash,
        created_at=from_micros(r.created_at),
        expires_at=when(r.expires_at),
        revoked_at=when(r.revoked_at),
        last_used_at=when(r.last_used_at),
    )


class SessionRow(NamedTuple):
    id_hash: str
    token_id: str
    created_at: int
    expires_at: int


def session_values(session: DashboardSession) -> SessionRow:
    """A session row, in ``SESSION_COLUMNS`` order."""
    return SessionRow(
        session.id_hash,
        session.token_id,
        to_micros(session.created_at),
        to_micros(session.expires_at),
    )


def session_of(values: Sequence[Any]) -> DashboardSession:
    r = SessionRow._make(values)
    return DashboardSession(
        id_hash=r.id_hash,
        token_id=r.token_id,
        created_at=from_micros(r.created_at),
        expires_at=from_micros(r.expires_at),
    )


class AlertRow(NamedTuple):
    """An alert as stored (``ALERT_COLUMNS``); ``details`` is JSON text."""

    id: str
    channel: str
    kind: str
    subject: str
    text: str
    job: str | None
    run_id: str | None
    details: str
    state: str
    attempts: int
    error: str | None
    created_at: int
    next_at: int
    sent_at: int | None


def alert_values(alert: Alert) -> AlertRow:
    """An alert row, in ``ALERT_COLUMNS`` order."""
    return AlertRow(
        alert.id, alert.channel, alert.kind, alert.subject, alert.text, alert.job,
        alert.run_id, dumps(alert.details), alert.state, alert.attempts, alert.error,
        to_micros(alert.created_at), to_micros(alert.next_at), micros(alert.sent_at),
    )  # fmt: skip


def alert_of(values: Sequence[Any]) -> Alert:
    r = AlertRow._make(values)
    return Alert(
        id=r.id,
        channel=r.channel,
        kind=r.kind,
        subject=r.subject,
        text=r.text,
        created_at=from_micros(r.created_at),
        next_at=from_micros(r.next_at),
        job=r.job,
        run_id=r.run_id,
        details=orjson.loads(r.details),
        state=r.state,
        attempts=r.attempts,
        error=r.error,
        sent_at=when(r.sent_at),
    )


class AlertUpdateRow(NamedTuple):
    """``ALERT_SETTLE`` parameters: the end of one delivery attempt (``next_at`` None: kept)."""

    state: str
    attempts: int
    next_at: int | None
    error: str | None
    sent_at: int | None
    id: str


def alert_update_values(update: AlertUpdate) -> AlertUpdateRow:
    return AlertUpdateRow(
        update.state, update.attempts, micros(update.next_at), update.error,
        micros(update.sent_at), update.id,
    )  # fmt: skip


class SilenceRow(NamedTuple):
    job: str
    until: int
    note: str
    by_actor: str
    created_at: int


def silence_values(silence: Silence) -> SilenceRow:
    """A silence row, in ``SILENCE_COLUMNS`` order."""
    return SilenceRow(
        silence.job, to_micros(silence.until), silence.note, silence.by,
        to_micros(silence.created_at),
    )  # fmt: skip


def silence_of(values: Sequence[Any]) -> Silence:
    r = SilenceRow._make(values)
    return Silence(
        job=r.job,
        until=from_micros(r.until),
        note=r.note,
        by=r.by_actor,
        created_at=from_micros(r.created_at),
    )


class FlowRow(NamedTuple):
    """What :func:`tss.core.flows.settle` needs of a run of a flow (``FLOW_COLUMNS``); the
    policy of waiting runs only."""

    id: str
    job: str
    state: str
    policy: str | None
    retry_of: str | None
    pool: str
    flow_id: str


class MemberRow(NamedTuple):
    """What a flow listing needs of a run of a flow (``MEMBERS``)."""

    flow_id: str
    id: str
    job: str
    state: str
    retry_of: str | None
