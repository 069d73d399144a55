"""Flows in the SQL stores: the statements and row plans SQLite and PostgreSQL share.

The rules are :mod:`tss.core.flows`; this module only reads what they need and turns
their decisions into rows. SQL is written with ``?`` placeholders (PostgreSQL numbers
them with :func:`tss.store._pg_sql.numbered`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tss.core import flows
from tss.core.models import JobSpec, Page
from tss.core.states import RunState
from tss.store import _codec as c
from tss.store._listing import FLOWS, run_after, run_cursor

#: the edges of one job are replaced whenever its definition is stored
EDGES_DELETE = "DELETE FROM job_deps WHERE child = ?"
EDGES_INSERT = "INSERT INTO job_deps (parent, child) VALUES (?, ?)"
#: whether any job depends on another at all (most stores: none, and firing skips flows)
ANY_EDGE = "SELECT EXISTS (SELECT 1 FROM job_deps)"
#: the specs of every job downstream of the job ``?``
DOWNSTREAM = (
    "WITH RECURSIVE down(name) AS (SELECT child FROM job_deps WHERE parent = ?"
    " UNION SELECT d.child FROM job_deps AS d JOIN down ON d.parent = down.name)"
    " SELECT jobs.spec FROM jobs JOIN down ON jobs.name = down.name"
)
#: what core.flows.settle needs of the runs of some flows; the policy of waiting runs only
FLOW_COLUMNS = (
    "id, job, state, CASE WHEN state = 'waiting' THEN policy END, retry_of, pool, flow_id"
)
#: what a flow listing needs of the runs of some flows (the IN list or ANY goes after it)
MEMBERS = "SELECT flow_id, id, job, state, retry_of FROM runs WHERE flow_id IS NOT NULL AND "
#: parameters: state, updated_at, queued_at, finished_at, reason, id
SETTLE_RUN = (
    "UPDATE runs SET state = ?, updated_at = ?, queued_at = ?, published_at = NULL,"
    " finished_at = ?, reason = ? WHERE id = ? AND state = 'waiting'"
)


def edges(spec: JobSpec) -> list[tuple[str, str]]:
    """The ``job_deps`` rows of a job: ``(parent, child)``."""
    return sorted({(dep.job, spec.name) for dep in spec.depends_on})


def specs_of(rows: Sequence[Sequence[Any]]) -> dict[str, JobSpec]:
    """``DOWNSTREAM`` rows as specs by name."""
    return {spec.name: spec for spec in (c.spec_of(row[0]) for row in rows)}


def plan_settle(
    rows: Sequence[Sequence[Any]], now_us: int, actor: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    """The decisions of :func:`tss.core.flows.settle` for flows read with ``FLOW_COLUMNS``
    (any number of flows, any order): the ``SETTLE_RUN`` rows, the ``EVENT_INSERT`` rows,
    and the pool of each run that became queued (to announce)."""
    by_flow: dict[str, list[flows.FlowRun]] = {}
    jobs: dict[str, tuple[str, str]] = {}
    for run_id, job, state, policy, retry_of, pool, flow_id in rows:
        deps: tuple[tuple[str, str], ...] = ()
        rule = "all"
        if policy is not None:
            decoded = c.policy_of(policy)
            deps, rule = decoded.depends_on, decoded.trigger_rule
        run = flows.FlowRun(run_id, job, c.STATES[state], deps, rule, retry_of)
        by_flow.setdefault(flow_id, []).append(run)
        jobs[run_id] = (job, pool)
    updates, events, pools = [], [], []
    for members in by_flow.values():
        for d in flows.settle(members):
            queued = d.target is RunState.QUEUED
            at = (now_us, None) if queued else (None, now_us)
            updates.append((d.target.value, now_us, *at, d.reason, d.run_id))
            job, pool = jobs[d.run_id]
            events.append((now_us, d.run_id, job, "waiting", d.target.value, d.reason, 0, actor))
            if queued:
                pools.append(pool)
    return updates, events, pools


def roots_query(limit: int, cursor: str | None) -> tuple[str, list[Any]]:
    """The SQL (``?`` placeholders) and parameters of the runs that started flows (their
    ``flow_id`` is their id), newest first, one more than ``limit``. It walks the partial
    index on ``flow_id``, so it reads flow runs only, never the rest of the history.

    :raises ValidationError: a malformed cursor, or one made for another listing.
    """
    before = run_after(cursor, FLOWS)
    sql = f"SELECT {c.RUN_COLUMNS} FROM runs WHERE flow_id IS NOT NULL AND flow_id = id"
    params: list[Any] = []
    if before is not None:
        sql, params = sql + " AND flow_id < ?", [before]
    return sql + " ORDER BY flow_id DESC LIMIT ?", [*params, max(limit, 0) + 1]


def flow_page(roots: Sequence[Sequence[Any]], members: Sequence[Sequence[Any]], limit: int) -> Page:
    """The page of :class:`~tss.core.flows.FlowSummary` that :func:`roots_query`'s rows
    and the ``MEMBERS`` rows of their flows make."""
    limit = max(limit, 0)
    by_flow: dict[str, list[flows.FlowRun]] = {}
    for flow_id, run_id, job, state, retry_of in members:
        run = flows.FlowRun(run_id, job, c.STATES[state], retry_of=retry_of)
        by_flow.setdefault(flow_id, []).append(run)
    runs = [c.run_of(row) for row in roots[:limit]]
    items = [flows.FlowSummary.of(run, by_flow.get(run.id, [])) for run in runs]
    more = len(roots) > limit and items
    return Page(items, run_cursor(items[-1].flow_id, FLOWS) if more else None)
