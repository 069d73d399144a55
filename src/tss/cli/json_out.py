"""The records the CLI prints with ``--json``, as JSON-able data.

The same functions serve the local store and a remote server (``--url``): both hand the
commands the same core records, so a script sees the same JSON either way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tss.cli.output import duration
from tss.core.alerts import Alert, Silence
from tss.core.models import Attempt, Job, PauseInfo, Run, Token, WorkerInfo


def job_data(job: Job) -> dict[str, Any]:
    """A stored job as JSON-able data."""
    return {
        "name": job.name,
        "spec": job.spec.model_dump(mode="json"),
        "next_fire_at": job.next_fire_at,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "version": job.version,
        "pause": None if job.pause is None else pause_data(job.pause),
    }


def pause_data(pause: PauseInfo) -> dict[str, Any]:
    """Who paused a job, when, why and until when, as JSON-able data."""
    return {"by": pause.by, "at": pause.at, "note": pause.note, "until": pause.until}


def run_data(run: Run, waiting_because: str | None = None) -> dict[str, Any]:
    """A run as JSON-able data; ``waiting_because`` says why no live worker can take it
    (:func:`tss.core.waiting.why_waiting`), where the command looked."""
    return {
        "id": run.id,
        "job": run.job,
        "state": run.state.value,
        "trigger": run.trigger,
        "params": run.params,
        "priority": run.priority,
        "pool": run.pool,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "scheduled_for": run.scheduled_for,
        "not_before": run.not_before,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration": duration(run.started_at, run.finished_at),
        "lease_until": run.lease_until,
        "worker_id": run.worker_id,
        "idempotency_key": run.idempotency_key,
        "result": run.result,
        "error": run.error.to_dict() if run.error else None,
        "reason": run.reason,
        "retry_of": run.retry_of,
        "flow_id": run.flow_id,
        "policy": run.policy.to_dict(),
        "waiting_because": waiting_because,
    }


def attempt_data(attempt: Attempt) -> dict[str, Any]:
    """An attempt as JSON-able data (logs left out: ``tss run logs`` shows them)."""
    return {
        "number": attempt.number,
        "worker_id": attempt.worker_id,
        "state": attempt.state.value,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
        "duration": duration(attempt.started_at, attempt.finished_at),
        "result": attempt.result,
        "error": attempt.error.to_dict() if attempt.error else None,
    }


def worker_data(worker: WorkerInfo) -> dict[str, Any]:
    """A worker as JSON-able data."""
    return {
        "id": worker.id,
        "state": worker.state,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "pools": worker.pools,
        "task_types": worker.task_types,
        "labels": worker.labels,
        "concurrency": worker.concurrency,
        "running": worker.running,
        "cores": worker.cores,
        "memory": worker.memory,
        "version": worker.version,
        "started_at": worker.started_at,
        "last_heartbeat": worker.last_heartbeat,
    }


def token_data(token: Token) -> dict[str, Any]:
    """A token as JSON-able data: never its secret, nor the hash of it."""
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }


def alert_data(alert: Alert) -> dict[str, Any]:
    """An alert as JSON-able data: every field (the keys of ``GET /api/v1/alerts/{id}``)."""
    return {f.name: getattr(alert, f.name) for f in dataclasses.fields(alert)}


def silence_data(silence: Silence) -> dict[str, Any]:
    """A silence as JSON-able data: every field."""
    return {f.name: getattr(silence, f.name) for f in dataclasses.fields(silence)}
