"""Rows <-> models for the SQL stores (see :mod:`tss.store.schema` for the columns).

Times are integer microseconds since the epoch (UTC); JSON values are text. The functions
here are on the hot path (thousands of rows per second), so they are plain and cached where
a value repeats (a job's run policy, a job's spec).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar, cast

import orjson

from tss.core.fencing import finish_change, may_finish
from tss.core.models import (
    Attempt,
    ErrorInfo,
    Event,
    Job,
    JobFilter,
    JobSpec,
    NewRun,
    Outcome,
    Page,
    Role,
    Run,
    RunFilter,
    RunPolicy,
    Token,
    WorkerInfo,
)
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros, to_utc
from tss.store._listing import check_offset, prefix_end, run_after, run_cursor

STATES: dict[str, RunState] = {state.value: state for state in RunState}
log = logging.getLogger(__name__)
_CACHE_SIZE = 4096


def dumps(value: Any) -> str:
    """JSON text; values orjson cannot write natively are written as their ``str``."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def dumps_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads_or_none(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def when(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def error_text(error: ErrorInfo | None) -> str | None:
    return None if error is None else dumps(error.to_dict())


def error_of(text: str | None) -> ErrorInfo | None:
    return None if text is None else ErrorInfo.from_dict(orjson.loads(text))


def placeholders(count: int) -> str:
    return ",".join("?" * count)


def seconds_us(seconds: float) -> int:
    """A duration in seconds as whole microseconds (the unit times are stored in)."""
    return round(seconds * 1_000_000)


def chunks(items: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    """``items`` in slices small enough for SQL parameter limits."""
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- run policies and job specs: few distinct values, decoded once ---------------------------

T = TypeVar("T")
_policy_by_text: dict[str, RunPolicy] = {}
_text_by_policy: dict[int, tuple[RunPolicy, str]] = {}
_spec_by_text: dict[str, JobSpec] = {}


def policy_text(policy: RunPolicy) -> str:
    hit = _text_by_policy.get(id(policy))
    if hit is not None and hit[0] is policy:
        return hit[1]
    text = dumps(policy.to_dict())
    if len(_text_by_policy) >= _CACHE_SIZE:
        _text_by_policy.clear()
    _text_by_policy[id(policy)] = (policy, text)  # holding the policy keeps its id unique
    return text


def _remember(cache: dict[str, T], text: str, value: T) -> T:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[text] = value
    return value


def policy_of(text: str) -> RunPolicy:
    """A run's policy from its stored text. One that cannot be read (written by another
    version, or damaged) gives a quarantine policy carrying the reason, so that reading the
    run never fails: a worker then fails its attempt with that reason instead of running it.
    """
    policy = _policy_by_text.get(text)
    if policy is None:
        try:
            policy = RunPolicy.from_dict(orjson.loads(text))
        except Exception as exc:  # any damage at all: the run must still be readable
            policy = RunPolicy.quarantined(_stored_type(text), _unreadable("policy", exc))
            log.warning("a stored run policy is malformed: %s", policy.malformed)
        policy = _remember(_policy_by_text, text, policy)
    return policy


def _stored_type(text: str) -> str:
    try:
        value = orjson.loads(text).get("type")
    except Exception:
        return "noop"
    return value if isinstance(value, str) else "noop"


def _unreadable(what: str, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return f"the stored {what} is malformed and was not used ({type(exc).__name__}: {first})"


def spec_text(spec: JobSpec) -> str:
    text = dumps(spec.model_dump(mode="json"))
    # The scheduler will read this job back to fire it: spare it the validation then.
    _remember(_spec_by_text, text, spec)
    return text


def spec_of(text: str, name: str = "") -> JobSpec:
    """A job's definition from its stored text. One that cannot be read is quarantined: a
    paused no-op under the job's name whose description says why, so that the scheduler and
    every listing go on; applying the definition again replaces it."""
    spec = _spec_by_text.get(text)
    if spec is None:
        try:
            spec = JobSpec.model_validate(orjson.loads(text))
        except Exception as exc:  # any damage at all: the job must still be readable
            reason = _unreadable("definition", exc)
            log.warning("job %r: %s", name, reason)
            return JobSpec(name=name or "malformed", type="noop", paused=True,
                           description=f"quarantined: {reason}; apply it again")  # fmt: skip
        spec = _remember(_spec_by_text, text, spec)
    return spec


# -- jobs ------------------------------------------------------------------------------------

JOB_COLUMNS = "name, spec, next_fire_at, created_at, updated_at, version"


def job_values(spec: JobSpec) -> tuple[str, str, str, str, bool]:
    """``spec, type, pool, tags, paused`` for a job row."""
    return spec_text(spec), spec.type, spec.pool, dumps(spec.tags), spec.paused


def job_of(row: Sequence[Any]) -> Job:
    return Job(
        spec_of(row[1], row[0]), from_micros(row[3]), from_micros(row[4]), when(row[2]), row[5]
    )


# -- runs ------------------------------------------------------------------------------------

RUN_FIELDS = (
    'id, job, state, "trigger", params, priority, pool, policy, attempt, created_at,'
    " updated_at, scheduled_for, not_before, queued_at, started_at, finished_at, lease_until,"
    " worker_id, idempotency_key, result, error, reason, retry_of, flow_id, handbacks"
)
RUN_COLUMNS = ", ".join(f"runs.{name.strip()}" for name in RUN_FIELDS.split(","))
#: where each column is in a row selected with RUN_COLUMNS
RUN_INDEX = {name.strip().strip('"'): i for i, name in enumerate(RUN_FIELDS.split(","))}

RUN_INSERT = f"INSERT INTO runs ({RUN_FIELDS}) VALUES ({placeholders(len(RUN_INDEX))})"


def run_of(r: Sequence[Any]) -> Run:
    """A run from its row (``RUN_COLUMNS``). A damaged column never makes this raise: the
    run comes back quarantined (see :func:`policy_of`) with what could be read."""
    try:
        return _run_of(r)
    except Exception as exc:  # any damage at all: one bad row must not stop a process
        return _salvaged(r, exc)


def _salvaged(r: Sequence[Any], exc: BaseException) -> Run:
    reason = _unreadable("run", exc)
    log.warning("run %r: %s", r[0], reason)

    def get(i: int, decode: Callable[[Any], T], default: T) -> T:
        try:
            return default if r[i] is None else decode(r[i])
        except Exception:
            return default

    epoch = from_micros(0)
    policy = RunPolicy.quarantined(_stored_type(r[7]) if isinstance(r[7], str) else "noop", reason)
    params: Any = get(4, orjson.loads, {})
    return Run(
        id=str(r[0]),
        job=str(r[1]),
        state=get(2, STATES.__getitem__, RunState.QUEUED),
        trigger=get(3, str, "manual"),
        params=params if isinstance(params, dict) else {},
        priority=get(5, int, 0),
        pool=get(6, str, "default"),
        policy=policy,
        attempt=get(8, int, 0),
        created_at=get(9, from_micros, epoch),
        updated_at=get(10, from_micros, epoch),
        scheduled_for=get(11, from_micros, None),
        not_before=get(12, from_micros, None),
        queued_at=get(13, from_micros, None),
        started_at=get(14, from_micros, None),
        finished_at=get(15, from_micros, None),
        lease_until=get(16, from_micros, None),
        worker_id=get(17, str, None),
        idempotency_key=get(18, str, None),
        result=get(19, orjson.loads, None),
        error=get(20, error_of, None),
        reason=reason,
        retry_of=get(22, str, None),
        flow_id=get(23, str, None),
        handbacks=get(24, int, 0),
    )


def _run_of(r: Sequence[Any]) -> Run:
    return Run(
        id=r[0],
        job=r[1],
        state=STATES[r[2]],
        trigger=r[3],
        params=orjson.loads(r[4]),
        priority=r[5],
        pool=r[6],
        policy=policy_of(r[7]),
        attempt=r[8],
        created_at=from_micros(r[9]),
        updated_at=from_micros(r[10]),
        scheduled_for=None if r[11] is None else from_micros(r[11]),
        not_before=None if r[12] is None else from_micros(r[12]),
        queued_at=None if r[13] is None else from_micros(r[13]),
        started_at=None if r[14] is None else from_micros(r[14]),
        finished_at=None if r[15] is None else from_micros(r[15]),
        lease_until=None if r[16] is None else from_micros(r[16]),
        worker_id=r[17],
        idempotency_key=r[18],
        result=None if r[19] is None else orjson.loads(r[19]),
        error=None if r[20] is None else error_of(r[20]),
        reason=r[21],
        retry_of=r[22],
        flow_id=r[23],
        handbacks=r[24],
    )


def fire_key(new: NewRun) -> tuple[str, int] | None:
    """``(job, scheduled_for)`` of a scheduled fire: at most one run each."""
    if new.trigger != "schedule" or new.scheduled_for is None:
        return None
    return new.job, to_micros(new.scheduled_for)


def new_run(new: NewRun, now_us: int) -> tuple[Run, tuple[Any, ...]]:
    """The run as it will be stored, and its ``RUN_INSERT`` parameters."""
    queued_us = now_us if new.state is RunState.QUEUED else None
    finished_us = now_us if new.state.terminal else None
    params = dumps(new.params)
    row = (
        *(new.id, new.job, new.state.value, new.trigger, params, new.priority),
        *(new.pool, policy_text(new.policy), 0, now_us, now_us, micros(new.scheduled_for)),
        *(micros(new.not_before), queued_us, None, finished_us, None, None),
        *(new.idempotency_key, None, None, new.reason, new.retry_of, new.flow_id, 0),
    )
    now = from_micros(now_us)
    # Built from what we have rather than decoded back from the row: this is the fire path.
    run = Run(
        id=new.id,
        job=new.job,
        state=new.state,
        trigger=new.trigger,
        params=orjson.loads(params) if new.params else {},
        priority=new.priority,
        pool=new.pool,
        policy=new.policy,
        attempt=0,
        created_at=now,
        updated_at=now,
        scheduled_for=None if new.scheduled_for is None else to_utc(new.scheduled_for),
        not_before=None if new.not_before is None else to_utc(new.not_before),
        queued_at=now if queued_us is not None else None,
        finished_at=now if finished_us is not None else None,
        idempotency_key=new.idempotency_key,
        reason=new.reason,
        retry_of=new.retry_of,
        flow_id=new.flow_id,
    )
    return run, row


def plan_inserts(
    news: Sequence[NewRun],
    by_key: dict[Any, Run],
    by_fire: dict[Any, Run],
    now_us: int,
    actor: str,
) -> tuple[list[tuple[Run, bool]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Which runs to insert, given the stored runs with the same ``(job, idempotency_key)``
    (``by_key``) or ``(job, scheduled_for)`` (``by_fire``): the per-run result, the
    ``RUN_INSERT`` rows and the ``EVENT_INSERT`` rows. Both maps grow with the new runs, so
    a duplicate within ``news`` is found too."""
    out: list[tuple[Run, bool]] = []
    rows, events = [], []
    for new in news:
        key = (new.job, new.idempotency_key) if new.idempotency_key is not None else None
        fire = fire_key(new)
        old = (by_key.get(key) if key else None) or (by_fire.get(fire) if fire else None)
        if old is not None:
            out.append((replace(old, params=dict(old.params)), False))
            continue
        run, row = new_run(new, now_us)
        rows.append(row)
        events.append((now_us, run.id, run.job, None, run.state.value, run.reason, 0, actor))
        if key:
            by_key[key] = run
        if fire:
            by_fire[fire] = run
        out.append((run, True))
    return out, rows, events


#: what plan_finish needs of each run, in this order
FINISH_COLUMNS = (
    "id, state, attempt, lease_until, job, not_before, queued_at, published_at, flow_id"
)
#: parameters: state, updated_at, finished_at, not_before, queued_at, published_at, error,
#: result, reason, id
FINISH_RUN = (
    "UPDATE runs SET state = ?, updated_at = ?, finished_at = ?, not_before = ?, queued_at = ?,"
    " published_at = ?, lease_until = NULL, error = ?, result = ?, reason = ?,"
    " handbacks = handbacks + ? WHERE id = ?"
)
FINISH_ATTEMPT = (
    "UPDATE attempts SET state = ?, finished_at = ?, error = ?, result = ?, stdout = ?,"
    " stderr = ? WHERE run_id = ? AND number = ?"
)


def plan_finish(
    outcomes: Sequence[Outcome], current: dict[str, list[Any]], now_us: int, actor: str
) -> tuple[list[bool], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Fencing: accept an outcome only when its run is ``running`` with exactly that attempt
    (and, with ``require_expired``, a lease that has run out). ``current`` holds each run's
    ``FINISH_COLUMNS`` and is updated, so a second outcome for one attempt is refused.
    Returns whether each was accepted and the ``FINISH_RUN``, ``FINISH_ATTEMPT`` and
    ``EVENT_INSERT`` rows."""
    accepted: list[bool] = []
    runs: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for out in outcomes:
        cur = current.get(out.run_id)
        ok = cur is not None and may_finish(cur[1], cur[2], cur[3], out, now_us)
        accepted.append(ok)
        if not ok or cur is None:
            continue
        change = finish_change(out)
        target = change.target
        cur[1] = target.value
        error, result = error_text(out.error), dumps_or_none(out.result)
        delay = change.retry_delay
        not_before = cur[5] if delay is None else now_us + seconds_us(delay)
        queued = (now_us, None) if change.requeued else (cur[6], cur[7])
        finished = now_us if change.finished else None
        handed_back = 1 if change.requeued else 0
        row = (target.value, now_us, finished, not_before, *queued, error, result, out.reason)
        runs.append((*row, handed_back, cur[0]))
        state = change.attempt_state.value
        attempts.append((state, now_us, error, result, out.stdout, out.stderr, cur[0], cur[2]))
        events.append((now_us, cur[0], cur[4], "running", target.value, out.reason, cur[2], actor))
    return accepted, runs, attempts, events


def ended_flows(
    outcomes: Sequence[Outcome], accepted: Sequence[bool], current: dict[str, list[Any]]
) -> set[str]:
    """The flows (``flow_id``, the last of ``FINISH_COLUMNS``) in which an accepted outcome
    ended a run: the flows whose waiting runs may now be decided."""
    return {
        current[out.run_id][8]
        for out, ok in zip(outcomes, accepted, strict=True)
        if ok and out.target.terminal and current[out.run_id][8] is not None
    }


# -- attempts, events, workers ---------------------------------------------------------------

ATTEMPT_COLUMNS = (
    "run_id, number, worker_id, state, started_at, finished_at, error, result, stdout, stderr"
)


def attempt_of(r: Sequence[Any]) -> Attempt:
    return Attempt(
        run_id=r[0],
        number=r[1],
        worker_id=r[2],
        state=STATES[r[3]],
        started_at=from_micros(r[4]),
        finished_at=when(r[5]),
        error=error_of(r[6]),
        result=loads_or_none(r[7]),
        stdout=r[8],
        stderr=r[9],
    )


EVENT_COLUMNS = "id, at, run_id, job, source, target, actor, reason, attempt"
#: parameters in this order: at, run_id, job, source, target, reason, attempt, actor
EVENT_INSERT = (
    "INSERT INTO events (at, run_id, job, source, target, reason, attempt, actor)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def event_of(r: Sequence[Any]) -> Event:
    return Event(
        id=r[0],
        at=from_micros(r[1]),
        run_id=r[2],
        job=r[3],
        source=None if r[4] is None else STATES[r[4]],
        target=STATES[r[5]],
        actor=r[6],
        reason=r[7],
        attempt=r[8],
    )


WORKER_COLUMNS = (
    "id, hostname, pid, pools, task_types, concurrency, cores, memory, version, state,"
    " started_at, last_heartbeat, running"
)


WORKER_UPSERT = (
    f"INSERT INTO workers ({WORKER_COLUMNS}) VALUES ({placeholders(13)})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{n.strip()} = excluded.{n.strip()}" for n in WORKER_COLUMNS.split(",")[1:])
)


def worker_values(info: WorkerInfo, started_us: int, now_us: int) -> tuple[Any, ...]:
    """``WORKER_UPSERT`` parameters: the worker as it registers, up, with its running count."""
    pools, types = dumps(list(info.pools)), dumps(list(info.task_types))
    counts = (info.concurrency, float(info.cores), info.memory)
    return (
        info.id,
        info.hostname,
        info.pid,
        pools,
        types,
        *counts,
        info.version,
        "up",
        started_us,
        now_us,
        info.running,
    )


def worker_of(r: Sequence[Any]) -> WorkerInfo:
    return WorkerInfo(
        id=r[0],
        hostname=r[1],
        pid=r[2],
        pools=orjson.loads(r[3]),
        task_types=orjson.loads(r[4]),
        concurrency=r[5],
        cores=r[6],
        memory=r[7],
        version=r[8],
        state=r[9],
        started_at=when(r[10]),
        last_heartbeat=when(r[11]),
        running=r[12],
    )


TOKEN_COLUMNS = "id, name, role, secret_hash, created_at, expires_at, revoked_at, last_used_at"


def token_values(token: Token) -> tuple[Any, ...]:
    """A token row, in ``TOKEN_COLUMNS`` order."""
    return (
        *(token.id, token.name, token.role, token.secret_hash, to_micros(token.created_at)),
        *(micros(token.expires_at), micros(token.revoked_at), micros(token.last_used_at)),
    )


def token_of(r: Sequence[Any]) -> Token:
    return Token(
        id=r[0],
        name=r[1],
        role=cast(Role, r[2]),  # written from a Role
        secret_hash=r[3],
        created_at=from_micros(r[4]),
        expires_at=when(r[5]),
        revoked_at=when(r[6]),
        last_used_at=when(r[7]),
    )


#: the state of a job's newest run, as a correlated subquery (served by ``ix_runs_job_id``)
LAST_STATE = "(SELECT r.state FROM runs AS r WHERE r.job = jobs.name ORDER BY r.id DESC LIMIT 1)"


def job_where(
    job_filter: JobFilter | None,
    *,
    name: str = "name",
    has_tag: str,
    flag: Callable[[bool], Any] = int,
) -> tuple[list[str], list[Any]]:
    """SQL conditions and parameters for a :class:`JobFilter` (what its ``matches`` says).
    The dialects differ in how the name column is compared (``name``), how a tag is found
    in the JSON list (``has_tag``, with one ``?``) and how a boolean is passed (``flag``)."""
    where, params = list[str](), list[Any]()
    if job_filter is None:
        return where, params
    prefix, tag, pool = job_filter.prefix, job_filter.tag, job_filter.pool
    paused, last_state = job_filter.paused, job_filter.last_state
    if prefix:
        # Both bounds, so the name index yields exactly the matching range.
        upper = prefix_end(prefix)
        where.append(f"{name} >= ? AND substr(name, 1, ?) = ?")
        params += [prefix, len(prefix), prefix]
        if upper is not None:
            where.append(f"{name} < ?")
            params.append(upper)
    if tag is not None:
        where.append(has_tag)
        params.append(tag)
    if pool is not None:
        where.append("pool = ?")
        params.append(pool)
    if paused is not None:
        where.append("paused = ?")
        params.append(flag(paused))
    if last_state is not None:
        where.append(f"{LAST_STATE} = ?")
        params.append(RunState(last_state).value)
    return where, params


#: every column of a run, as ``run_of`` reads them
RUNS_SELECT = f"SELECT {RUN_COLUMNS} FROM runs"
#: the fires of job ``?`` made ahead of their time as of ``?`` (microseconds): what
#: :func:`tss.core.firing.made_ahead` says, in SQL
AHEAD = (
    f"{RUNS_SELECT} WHERE job = ? AND \"trigger\" = 'schedule' AND (state = 'scheduled'"
    " OR (state = 'queued' AND not_before > ?))"
)


def run_page_query(
    run_filter: RunFilter | None, *, limit: int, cursor: str | None, offset: int
) -> tuple[str, list[Any]]:
    """The SQL (``?`` placeholders) and parameters of one page of ``Store.list_runs``:
    newest first, one row more than ``limit`` to tell whether another page follows.

    :raises ValidationError: a malformed cursor or a negative offset.
    """
    before, offset = run_after(cursor), check_offset(offset)
    where, params = run_where(run_filter)
    if before is not None:
        where, params = [*where, "id < ?"], [*params, before]
    # No total: counting a run history of millions on every page would not do.
    sql = f"{RUNS_SELECT} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ? OFFSET ?"
    return sql, [*params, max(limit, 0) + 1, offset]


def run_page(rows: Sequence[Any], limit: int) -> Page:
    """The page that :func:`run_page_query`'s rows make."""
    limit = max(limit, 0)
    runs = [run_of(row) for row in rows[:limit]]
    return Page(runs, run_cursor(runs[-1].id) if len(rows) > limit and runs else None)


def run_where(run_filter: RunFilter | None) -> tuple[list[str], list[Any]]:
    """SQL conditions (joined with AND) and their parameters for a run filter (what its
    ``matches`` says)."""
    where, params = ["1 = 1"], list[Any]()
    if run_filter is None:
        return where, params
    f = run_filter
    if f.job is not None:
        where.append("job = ?")
        params.append(f.job)
    if f.states:
        where.append(f"state IN ({placeholders(len(f.states))})")
        params.extend(RunState(state).value for state in f.states)
    if f.since is not None:
        where.append("created_at >= ?")
        params.append(to_micros(f.since))
    if f.until is not None:
        where.append("created_at < ?")
        params.append(to_micros(f.until))
    if f.flow_id is not None:
        where.append("flow_id = ?")
        params.append(f.flow_id)
    return where, params
