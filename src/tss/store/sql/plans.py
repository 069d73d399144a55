"""What the SQL stores write, decided in Python once and shared by SQLite and PostgreSQL.

Each plan reads named rows (:mod:`tss.store.sql.rows`) and returns the rows to write; the
rules themselves are in ``core``: fencing (:mod:`tss.core.fencing`), flows
(:mod:`tss.core.flows`). The stores keep the conditions that make a write safe under
concurrency (``WHERE state = 'waiting'``, row locks) in their statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tss.core import flows
from tss.core.fencing import finish_change, may_finish
from tss.core.models import JobSpec, NewRun, Outcome, Page, Run
from tss.core.states import RunState
from tss.store.encoding import (
    STATES,
    RunRow,
    dumps_or_none,
    error_text,
    fire_key,
    policy_of,
    run_of,
    seconds_us,
    spec_of,
)
from tss.store.paging import FLOWS, alert_cursor, run_cursor
from tss.store.sql.rows import (
    AlertRow,
    FinishedAttempt,
    FinishedRun,
    FinishRow,
    FlowRow,
    MemberRow,
    NewEvent,
    alert_of,
    new_run_row,
)

Key = tuple[str, Any]


def plan_inserts(
    news: Sequence[NewRun], by_key: dict[Key, Run], by_fire: dict[Key, Run], now_us: int, actor: str
) -> tuple[list[tuple[Run, bool]], list[RunRow], list[NewEvent]]:
    """Which runs to insert, given the stored runs with the same ``(job, idempotency_key)``
    (``by_key``) or ``(job, scheduled_for)`` (``by_fire``): the per-run result, the
    ``RUN_INSERT`` rows and the ``EVENT_INSERT`` rows. Both maps grow with the new runs, so
    a duplicate within ``news`` is found too."""
    out: list[tuple[Run, bool]] = []
    rows: list[RunRow] = []
    events: list[NewEvent] = []
    for new in news:
        key = (new.job, new.idempotency_key) if new.idempotency_key is not None else None
        fire = fire_key(new)
        old = (by_key.get(key) if key else None) or (by_fire.get(fire) if fire else None)
        if old is not None:
            out.append((replace(old, params=dict(old.params)), False))
            continue
        run, row = new_run_row(new, now_us)
        rows.append(row)
        events.append(
            NewEvent(now_us, run.id, run.job, None, run.state.value, run.reason, 0, actor)
        )
        if key:
            by_key[key] = run
        if fire:
            by_fire[fire] = run
        out.append((run, True))
    return out, rows, events


def plan_finish(
    outcomes: Sequence[Outcome], current: dict[str, FinishRow], now_us: int, actor: str
) -> tuple[list[bool], list[FinishedRun], list[FinishedAttempt], list[NewEvent]]:
    """Fencing (:func:`tss.core.fencing.may_finish`) over each run's ``FinishRow``, and what
    each accepted outcome writes (:func:`tss.core.fencing.finish_change`); a second outcome
    for a run finished by an earlier one is refused. Returns whether each was
    accepted and the ``FINISH_RUN``, ``FINISH_ATTEMPT`` and ``EVENT_INSERT`` rows (their
    fields in the order of :class:`FinishedRun`, :class:`FinishedAttempt`, :class:`NewEvent`)."""
    accepted: list[bool] = []
    runs: list[FinishedRun] = []
    attempts: list[FinishedAttempt] = []
    events: list[NewEvent] = []
    finished: set[str] = set()  # a second outcome for a run finished here is refused
    for out in outcomes:
        cur = current.get(out.run_id)
        ok = (
            cur is not None
            and cur.id not in finished
            and may_finish(cur.state, cur.attempt, cur.lease_until, out, now_us)
        )
        accepted.append(ok)
        if not ok or cur is None:
            continue
        finished.add(cur.id)
        change = finish_change(out)
        target = change.target.value
        error, result = error_text(out.error), dumps_or_none(out.result)
        delay = change.retry_delay
        # Rows are made with _make from plain tuples in field order: the hot path.
        run_row = FinishedRun._make((
            target, now_us, now_us if change.finished else None,
            cur.not_before if delay is None else now_us + seconds_us(delay),
            now_us if change.requeued else cur.queued_at,
            None if change.requeued else cur.published_at,
            error, result, out.reason, 1 if change.requeued else 0, cur.id,
        ))  # fmt: skip
        runs.append(run_row)
        attempt = FinishedAttempt._make((
            change.attempt_state.value, now_us, error, result, out.stdout, out.stderr, cur.id,
            cur.attempt,
        ))  # fmt: skip
        attempts.append(attempt)
        event = (now_us, cur.id, cur.job, "running", target, out.reason, cur.attempt, actor)
        events.append(NewEvent._make(event))
    return accepted, runs, attempts, events


def ended_flows(
    outcomes: Sequence[Outcome], accepted: Sequence[bool], current: dict[str, FinishRow]
) -> set[str]:
    """The flows in which an accepted outcome ended a run: the flows whose waiting runs may
    now be decided."""
    ended = set()
    for out, ok in zip(outcomes, accepted, strict=True):
        if ok and out.target.terminal:
            flow_id = current[out.run_id].flow_id
            if flow_id is not None:
                ended.add(flow_id)
    return ended


def edges(spec: JobSpec) -> list[tuple[str, str]]:
    """The ``job_deps`` rows of a job: ``(parent, child)``."""
    return sorted({(dep.job, spec.name) for dep in spec.depends_on})


def specs_of(rows: Sequence[Sequence[Any]]) -> dict[str, JobSpec]:
    """``DOWNSTREAM`` rows (one column: the spec) as specs by name."""
    return {spec.name: spec for spec in (spec_of(row[0]) for row in rows)}


def plan_settle(
    rows: Sequence[Sequence[Any]], now_us: int, actor: str
) -> tuple[list[tuple[Any, ...]], list[NewEvent], list[str]]:
    """The decisions of :func:`tss.core.flows.settle` for flows read as ``FlowRow`` (any
    number of flows, any order): the ``SETTLE_RUN`` rows, the ``EVENT_INSERT`` rows, and
    the pool of each run that became queued (to announce)."""
    by_flow: dict[str, list[flows.FlowRun]] = {}
    jobs: dict[str, tuple[str, str]] = {}
    for values in rows:
        row = FlowRow._make(values)
        deps: tuple[tuple[str, str], ...] = ()
        rule = "all"
        if row.policy is not None:
            decoded = policy_of(row.policy)
            deps, rule = decoded.depends_on, decoded.trigger_rule
        run = flows.FlowRun(row.id, row.job, STATES[row.state], deps, rule, row.retry_of)
        by_flow.setdefault(row.flow_id, []).append(run)
        jobs[row.id] = (row.job, row.pool)
    updates, events, pools = [], [], []
    for members in by_flow.values():
        for d in flows.settle(members):
            queued = d.target is RunState.QUEUED
            at = (now_us, None) if queued else (None, now_us)
            updates.append((d.target.value, now_us, *at, d.reason, d.run_id))
            job, pool = jobs[d.run_id]
            events.append(
                NewEvent(now_us, d.run_id, job, "waiting", d.target.value, d.reason, 0, actor)
            )
            if queued:
                pools.append(pool)
    return updates, events, pools


def flow_page(roots: Sequence[Sequence[Any]], members: Sequence[Sequence[Any]], limit: int) -> Page:
    """The page of :class:`~tss.core.flows.FlowSummary` that ``roots_query``'s rows and the
    ``MEMBERS`` rows of their flows make."""
    limit = max(limit, 0)
    by_flow: dict[str, list[flows.FlowRun]] = {}
    for values in members:
        member = MemberRow._make(values)
        run = flows.FlowRun(member.id, member.job, STATES[member.state], retry_of=member.retry_of)
        by_flow.setdefault(member.flow_id, []).append(run)
    runs = [run_of(row) for row in roots[:limit]]
    items = [flows.FlowSummary.of(run, by_flow.get(run.id, [])) for run in runs]
    more = len(roots) > limit and items
    return Page(items, run_cursor(items[-1].flow_id, FLOWS) if more else None)


def run_page(rows: Sequence[Any], limit: int) -> Page:
    """The page that ``run_page_query``'s rows make."""
    limit = max(limit, 0)
    runs = [run_of(row) for row in rows[:limit]]
    return Page(runs, run_cursor(runs[-1].id) if len(rows) > limit and runs else None)


def alert_page(rows: Sequence[Any], limit: int) -> Page:
    """The page that ``alert_page_query``'s rows make."""
    alerts = [alert_of(row) for row in rows[:limit]]
    if len(rows) <= limit or not alerts:
        return Page(alerts, None)
    last = AlertRow._make(rows[limit - 1])
    return Page(alerts, alert_cursor(last.created_at, last.id))
