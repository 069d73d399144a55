"""The REST API's shapes (:mod:`tss.api.schemas`) turned back into the core records the
CLI prints, so that ``--url`` shows exactly what the local store shows. Runs and workers
need no turning back: :class:`~tss.api.schemas.RunOut` is a :class:`~tss.core.models.Run`
and :class:`~tss.api.schemas.WorkerOut` a :class:`~tss.core.models.WorkerInfo`."""

from __future__ import annotations

from tss.api.schemas import (
    AlertOut,
    AttemptOut,
    ErrorInfoOut,
    FlowGraphOut,
    FlowSummaryOut,
    JobOut,
    PauseOut,
    SilenceOut,
    TokenOut,
)
from tss.core.alerts import Alert, Silence
from tss.core.flows import Edge, FlowGraph, FlowSummary
from tss.core.models import Attempt, ErrorInfo, Job, PauseInfo, Token


def job_of(out: JobOut) -> Job:
    return Job(
        spec=out.spec,
        created_at=out.created_at,
        updated_at=out.updated_at,
        next_fire_at=out.next_fire_at,
        version=out.version,
        pause=pause_of(out.pause),
    )


def pause_of(out: PauseOut | None) -> PauseInfo | None:
    if out is None:
        return None
    return PauseInfo(by=out.by, at=out.at, note=out.note, until=out.until)


def error_of(out: ErrorInfoOut | None) -> ErrorInfo | None:
    return ErrorInfo(out.type, out.message, out.traceback, out.exit_code) if out else None


def attempt_of(run_id: str, out: AttemptOut) -> Attempt:
    return Attempt(
        run_id=run_id,
        number=out.number,
        worker_id=out.worker_id,
        state=out.state,
        started_at=out.started_at,
        finished_at=out.finished_at,
        error=error_of(out.error),
        result=out.result,
    )


def token_of(out: TokenOut) -> Token:
    return Token(
        id=out.id,
        name=out.name,
        role=out.role,
        secret_hash="",  # the server never sends it
        created_at=out.created_at,
        expires_at=out.expires_at,
        revoked_at=out.revoked_at,
        last_used_at=out.last_used_at,
    )


def graph_of(out: FlowGraphOut) -> FlowGraph:
    return FlowGraph(
        root=out.root,
        jobs=[node.job for node in out.nodes],
        rules={node.job: node.trigger_rule for node in out.nodes},
        edges=[Edge(e.parent, e.child, e.on) for e in out.edges],
    )


def flow_summary_of(out: FlowSummaryOut) -> FlowSummary:
    return FlowSummary(out.flow_id, out.root_job, out.started, out.state, dict(out.counts))


def alert_of(out: AlertOut) -> Alert:
    return Alert(
        id=out.id,
        channel=out.channel,
        kind=out.kind,
        subject=out.subject,
        text=out.text,
        created_at=out.created_at,
        next_at=out.next_at,
        job=out.job,
        run_id=out.run_id,
        details=dict(out.details),
        state=out.state,
        attempts=out.attempts,
        error=out.error,
        sent_at=out.sent_at,
    )


def silence_of(out: SilenceOut) -> Silence:
    return Silence(
        job=out.job, until=out.until, note=out.note, by=out.by, created_at=out.created_at
    )
