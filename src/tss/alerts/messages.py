"""The words of alerts: what happened first (job, run, reason, how long, what the schedule
expected), then the link. Nothing here reads a job's params, environment or result: an
alert carries no secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tss.core.alerts import Alert, alert_id
from tss.core.models import Job, Run
from tss.core.retry import TIMEOUT_ERROR

#: characters of an error message an alert quotes
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Message:
    """What an alert says: a subject line, the text, and details for machines."""

    subject: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)

    def alert(
        self,
        kind: str,
        subject: str,
        cause: str,
        channel: str,
        at: datetime,
        *,
        job: str | None = None,
        run_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Alert:
        """This message as the alert of ``kind`` about ``subject`` (a job, pool or
        channel) caused by ``cause``, to ``channel``, due at once (its id:
        :func:`~tss.core.alerts.alert_id`); ``details`` replace the message's."""
        return Alert(
            id=alert_id(kind, subject, cause, channel),
            channel=channel,
            kind=kind,
            subject=self.subject,
            text=self.text,
            created_at=at,
            next_at=at,
            job=job,
            run_id=run_id,
            details=self.details if details is None else details,
        )


def when(at: datetime | None) -> str:
    """A time as messages write it: ``2026-12-07 02:00:00 UTC``."""
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """``0.4 s``, ``12.3 s``, ``4 min 5 s``, ``2 h 3 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _error(run: Run) -> str:
    if run.error is None:
        return run.reason or "no error was recorded"
    text = f"{run.error.type}: {run.error.message}".strip()
    if run.error.exit_code is not None and str(run.error.exit_code) not in text:
        text += f" (exit code {run.error.exit_code})"
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _ran(run: Run) -> float | None:
    if run.started_at is None or run.finished_at is None:
        return None
    return max((run.finished_at - run.started_at).total_seconds(), 0.0)


def _schedule(run: Run) -> str:
    if run.scheduled_for is None:
        return f"It was started by a {run.trigger} trigger."
    return f"It was scheduled for {when(run.scheduled_for)}."


def run_details(run: Run, link: str | None) -> dict[str, Any]:
    """The machine-readable part of a run's alert."""
    details: dict[str, Any] = {
        "run_id": run.id,
        "state": run.state.value,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "pool": run.pool,
        "trigger": run.trigger,
        "scheduled_for": run.scheduled_for.isoformat() if run.scheduled_for else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    ran = _ran(run)
    if ran is not None:
        details["duration"] = round(ran, 3)
    if run.error is not None:
        details["error"] = _error(run)
    if link:
        details["link"] = f"{link}/dashboard/runs/{run.id}"
    return details


def failed(run: Run, link: str | None, *, final: bool) -> Message:
    """An attempt failed (``final``: and the run is over)."""
    ran = _ran(run)
    took = f" after {span(ran)}" if ran is not None else ""
    timed = run.error is not None and run.error.type == TIMEOUT_ERROR
    verb = "timed out" if timed else "failed"
    if final:
        tries = f"{run.attempt} attempt" + ("s" if run.attempt != 1 else "")
        subject = f"[TSS] {run.job} {verb}: no tries left ({tries})"
        after = "No tries are left: the run is over."
    else:
        subject = f"[TSS] {run.job} {verb} (attempt {run.attempt} of {run.max_attempts})"
        after = "It will be retried."
    text = (
        f"Job {run.job} {verb} on attempt {run.attempt} of {run.max_attempts}{took}: "
        f"{_error(run)}. {after} {_schedule(run)} Run {run.id}."
    )
    return Message(subject, text, run_details(run, link))


def consecutive(run: Run, count: int, link: str | None) -> Message:
    """``count`` runs of a job in a row failed."""
    text = (
        f"Job {run.job} failed {count} times in a row. The last run ({run.id}) ended with: "
        f"{_error(run)}. {_schedule(run)}"
    )
    details = run_details(run, link) | {"count": count}
    return Message(f"[TSS] {run.job} failed {count} times in a row", text, details)


def recovered(run: Run, since: str | None, failures: int, link: str | None) -> Message:
    """A job succeeded after a failure alert."""
    ran = _ran(run)
    took = f" in {span(ran)}" if ran is not None else ""
    was = f" since {since}" if since else ""
    text = (
        f"Job {run.job} succeeded again{took} (run {run.id}), after {failures} "
        f"failure{'s' if failures != 1 else ''}{was}."
    )
    return Message(f"[TSS] {run.job} recovered", text, run_details(run, link))


def late(run: Run, lateness: float, bound: float, link: str | None) -> Message:
    """A scheduled run started later than its bound."""
    text = (
        f"Job {run.job} started {span(lateness)} late (the bound is {span(bound)}): it was "
        f"scheduled for {when(run.scheduled_for)} and started at {when(run.started_at)}. "
        f"Run {run.id}, pool {run.pool}: are there enough workers?"
    )
    details = run_details(run, link) | {"lateness": round(lateness, 3), "bound": bound}
    return Message(f"[TSS] {run.job} started {span(lateness)} late", text, details)


def slow(run: Run, seconds: float, bound: float, why: str, link: str | None) -> Message:
    """A run took longer than its bound."""
    text = (
        f"Job {run.job} took {span(seconds)}, more than {why} ({span(bound)}). Run {run.id}. "
        f"{_schedule(run)}"
    )
    details = run_details(run, link) | {"bound": round(bound, 3)}
    return Message(f"[TSS] {run.job} was slow: {span(seconds)}", text, details)


def missed(
    job: Job, expected: datetime, overdue: float, link: str | None, *, fired: bool = False
) -> Message:
    """A fire the schedule says should have happened has not (``fired``: it was made
    ``overdue`` seconds late, when a scheduler came back)."""
    if fired:
        text = (
            f"Job {job.name} should have fired at {when(expected)}; no scheduler fired it "
            f"until {span(overdue)} later. Were the schedulers down, or cut from the store?"
        )
        made: dict[str, Any] = {
            "expected": expected.isoformat(),
            "overdue": round(overdue, 3),
            "fired": True,
        }
        if link:
            made["link"] = f"{link}/dashboard/jobs/{job.name}"
        return Message(f"[TSS] {job.name} missed its {when(expected)} fire", text, made)
    if job.spec.paused:
        why = "The job is paused: resume it, or silence its alerts if the pause is meant."
    else:
        why = "No scheduler has fired it: is a scheduler running and reaching the store?"
    text = (
        f"Job {job.name} should have fired at {when(expected)} and has not "
        f"({span(overdue)} ago). {why}"
    )
    details: dict[str, Any] = {
        "expected": expected.isoformat(),
        "overdue": round(overdue, 3),
        "paused": job.spec.paused,
    }
    if link:
        details["link"] = f"{link}/dashboard/jobs/{job.name}"
    return Message(f"[TSS] {job.name} missed its {when(expected)} fire", text, details)


def backlog(pool: str, depth: int, bound: int, lasted: float, link: str | None) -> Message:
    """A pool's queue stayed deeper than its bound."""
    text = (
        f"Pool {pool} has had more than {bound} queued runs for {span(lasted)} "
        f"({depth}{'+' if depth > bound else ''} now). Add workers or slots to the pool, "
        f"or look for a job that floods it."
    )
    details: dict[str, Any] = {"pool": pool, "depth": depth, "bound": bound}
    if link:
        details["link"] = f"{link}/dashboard/workers"
    return Message(f"[TSS] pool {pool} is backed up", text, details)


def no_workers(pool: str, lasted: float, link: str | None) -> Message:
    """A pool has queued runs and no live worker."""
    text = (
        f"Pool {pool} has queued runs and no live worker has served it for {span(lasted)}: "
        f"nothing in it can run. Start a worker for the pool."
    )
    details: dict[str, Any] = {"pool": pool}
    if link:
        details["link"] = f"{link}/dashboard/workers"
    return Message(f"[TSS] no worker for pool {pool}", text, details)


def summary(channel: str, held: dict[str, int], limit: int, link: str | None) -> Message:
    """Alerts a channel's rate limit held back."""
    total = sum(held.values())
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(held.items()))
    text = (
        f"{total} more alert{'s were' if total != 1 else ' was'} held back on channel "
        f"{channel} (the limit is {limit} a minute): {kinds}. They are listed with "
        f"state 'held' by `tss alert list` and on the dashboard."
    )
    details: dict[str, Any] = {"held": held}
    if link:
        details["link"] = f"{link}/dashboard/alerts"
    return Message(f"[TSS] {total} alerts held back on {channel}", text, details)


def test_message(channel: str, by: str, link: str | None) -> Message:
    """What ``tss alert test`` sends."""
    details: dict[str, Any] = {"by": by}
    if link:
        details["link"] = f"{link}/dashboard/alerts"
    text = f"A test alert for channel {channel}, sent by {by}. If you read this, it works."
    return Message(f"[TSS] test alert for {channel}", text, details)
