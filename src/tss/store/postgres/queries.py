"""The PostgreSQL store's statements: text SQL with ``$n`` parameters.

A batch travels as one array per column (``unnest``), so a batch of any size is one
statement and one round trip; the writes that belong together (a run, its attempt, its
event, the NOTIFY that announces it) are data-modifying CTEs of that one statement.
Column lists and row layouts are the SQLite store's (:mod:`tss.store.sql.queries`,
:mod:`tss.store.sql.rows`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import NamedTuple

from tss.core.states import TERMINAL_STATES
from tss.store.base import RUNS_CHANNEL, WAKE_CHANNEL
from tss.store.encoding import RunRow
from tss.store.postgres.connection import NOW_US
from tss.store.sql import queries as shared
from tss.store.sql.rows import FinishRow, JobRow
from tss.store.sql.schema import ACTIVE, QUEUED, RUNNING, WAITING

_QMARK = re.compile(r"\?")


@functools.lru_cache(maxsize=512)
def numbered(sql: str, start: int = 1) -> str:
    """``sql`` written with ``?`` placeholders (the shared SQL of :mod:`tss.store.sql.queries`
    and :mod:`tss.store.paging`) with ``$start, $start+1, ...`` instead. None of that SQL has
    a ``?`` in a literal."""
    counter = iter(range(start, start + sql.count("?")))
    return _QMARK.sub(lambda _: f"${next(counter)}", sql)


def unnest(types: Sequence[str], start: int = 1) -> str:
    """``unnest($start::t1[], ...)``: one array parameter per column."""
    return "unnest(" + ", ".join(f"${start + i}::{t}[]" for i, t in enumerate(types)) + ")"


RUNS = shared.RUNS
JOBS = shared.JOBS
TOKENS = shared.TOKENS
CLOCK = f"SELECT {NOW_US}"

#: the runs columns of :class:`tss.store.encoding.RunRow`, typed for unnest
RUN_TYPES: tuple[str, ...] = (
    *("text", "text", "text", "text", "text", "int", "text", "text", "int"),
    *("bigint",) * 8,
    *("text",) * 7,
    "int",
)
#: where the free text is in a RUN_INSERT row: reason
RUN_TEXT = (RunRow._fields.index("reason"),)
EVENT_FIELDS = "at, run_id, job, source, target, reason, attempt, actor"
EVENT_TYPES = ("bigint", "text", "text", "text", "text", "text", "int", "text")


def event_insert(start: int = 1) -> str:
    """Insert EVENT_INSERT rows given as arrays from ``$start``."""
    return f"INSERT INTO events ({EVENT_FIELDS}) SELECT * FROM {unnest(EVENT_TYPES, start)}"


def _notify_queued(alias: str) -> str:
    return f"pg_notify('{RUNS_CHANNEL}', {alias}.pool)"


_WAKE = f"pg_notify('{WAKE_CHANNEL}', '')"


@functools.cache
def insert_runs(advance: bool) -> str:
    """Insert runs (``RUN_TYPES`` arrays, ``$1``..), skipping any whose id, fire or
    idempotency key is taken (``ON CONFLICT DO NOTHING``), with an event each (actor
    ``$26``); NOTIFY the pools of queued ones, and wake schedulers for waiting ones when
    ``$27``. With ``advance``, also move jobs on: ``$28`` names, ``$29`` next fire times,
    ``$30`` the times the planner saw. Returns the ids inserted."""
    n = len(RUN_TYPES)
    sql = (
        f"WITH ins AS (INSERT INTO runs ({shared.RUN_FIELDS}) SELECT * FROM {unnest(RUN_TYPES)}"
        " ON CONFLICT DO NOTHING RETURNING id, job, state, reason, pool, not_before, created_at),"
        f" ev AS (INSERT INTO events ({EVENT_FIELDS}) SELECT created_at, id, job, NULL, state,"
        f" reason, 0, ${n + 1}::text FROM ins)"
    )
    if advance:
        sql += (
            ", adv AS (UPDATE jobs SET next_fire_at = u.next"
            f" FROM {unnest(('text', 'bigint', 'bigint'), n + 3)} AS u(name, next, expected)"
            " WHERE jobs.name = u.name AND jobs.next_fire_at IS NOT DISTINCT FROM u.expected)"
        )
    return sql + (
        f" SELECT ins.id, CASE WHEN ins.state = 'queued' THEN {_notify_queued('ins')}"
        f" WHEN ${n + 2}::bool AND ins.not_before IS NOT NULL THEN {_WAKE} END FROM ins"
    )


#: the columns of a new run that hold the time it was made: sent as offsets from it (0 or
#: NULL) by :data:`INSERT_RUNS_NOW`, which adds the store's clock
MADE_AT = frozenset({"created_at", "updated_at", "queued_at", "finished_at"})


def _insert_runs_now() -> str:
    n = len(RUN_TYPES)
    cols = RunRow._fields
    values = ", ".join(f"u.{c} + clock.us" if c in MADE_AT else f"u.{c}" for c in cols)
    return (
        f"WITH clock AS ({CLOCK} AS us),"
        " edge AS (SELECT EXISTS (SELECT 1 FROM job_deps"
        f" WHERE parent = ANY(${n + 2}::text[])) AS yes),"
        f" fresh AS (SELECT ${n + 3}::text IS NULL OR EXISTS (SELECT 1 FROM jobs"
        f" WHERE name = ${n + 3}::text AND version = ${n + 4}::bigint"
        f" AND created_at = ${n + 5}::bigint) AS yes),"
        f" ins AS (INSERT INTO runs ({shared.RUN_FIELDS}) SELECT {values}"
        f" FROM {unnest(RUN_TYPES)} AS u({', '.join(cols)}), clock, edge, fresh"
        " WHERE fresh.yes AND NOT edge.yes"
        " ON CONFLICT DO NOTHING RETURNING id, job, state, reason, pool, not_before, created_at),"
        f" ev AS (INSERT INTO events ({EVENT_FIELDS}) SELECT created_at, id, job, NULL, state,"
        f" reason, 0, ${n + 1}::text FROM ins),"
        f" sent AS (SELECT ins.id, CASE WHEN ins.state = 'queued' THEN {_notify_queued('ins')}"
        f" WHEN ins.not_before IS NOT NULL THEN {_WAKE} END FROM ins)"
        " SELECT clock.us, edge.yes, (SELECT array_agg(id) FROM sent), fresh.yes"
        " FROM clock, edge, fresh"
    )


#: runs made by hand that join no flow under way, in one statement (no transaction around
#: it: one round trip instead of five): the RUN_TYPES arrays with their times as offsets
#: (``MADE_AT``), the actor ``$26``, ``$27`` the jobs whose runs were sent as starting
#: no flow, and the definition they were built from (``$28`` job, ``$29`` version, ``$30``
#: created_at; NULLs for none). Returns the store's now, whether one of those jobs has a job
#: downstream, the ids inserted, and whether the job is still that definition (when either
#: says no, nothing was written).
INSERT_RUNS_NOW = _insert_runs_now()


#: the stored runs with the (job, idempotency_key) or (job, scheduled_for) of runs that were
#: not inserted: $1/$2 and $3/$4 as arrays
EXISTING = (
    f"{RUNS} WHERE idempotency_key IS NOT NULL AND (job, idempotency_key) IN"
    " (SELECT * FROM unnest($1::text[], $2::text[]))"
    f" UNION ALL {RUNS} WHERE \"trigger\" = 'schedule' AND (job, scheduled_for) IN"
    " (SELECT * FROM unnest($3::text[], $4::bigint[]))"
)


class DueJob(NamedTuple):
    """A row of ``FIRE_SELECT``: a due job (its :class:`~tss.store.sql.rows.JobRow`), the
    store's now and the job's active run count."""

    name: str
    spec: str
    next_fire_at: int | None
    created_at: int
    updated_at: int
    version: int
    pause: str | None
    now_us: int
    active: int

    @property
    def job(self) -> JobRow:
        return JobRow._make(self[: len(JobRow._fields)])


#: due jobs, locked; ``$1`` the horizon (microseconds), ``$2`` the limit (rows: DueJob)
FIRE_SELECT = (
    f"SELECT {shared.JOB_COLUMNS}, {NOW_US},"
    f" (SELECT count(*) FROM runs WHERE {ACTIVE} AND runs.job = jobs.name)"
    f" FROM jobs WHERE paused = false AND next_fire_at <= {NOW_US} + $1"
    " ORDER BY next_fire_at, name LIMIT $2 FOR UPDATE OF jobs SKIP LOCKED"
)

PROMOTE = (
    f"WITH due AS (SELECT id, state FROM runs WHERE {WAITING}"
    f" AND (not_before <= {NOW_US} + $3::bigint OR not_before IS NULL)"
    " ORDER BY coalesce(not_before, created_at), id LIMIT $1 FOR UPDATE SKIP LOCKED),"
    f" up AS (UPDATE runs SET state = 'queued', updated_at = {NOW_US}, queued_at = {NOW_US},"
    f" published_at = NULL FROM due WHERE runs.id = due.id"
    f" RETURNING {shared.RUN_COLUMNS}, due.state AS source),"
    f" ev AS (INSERT INTO events ({EVENT_FIELDS}) SELECT updated_at, id, job, source, 'queued',"
    " 'due', attempt, $2::text FROM up)"
    f" SELECT up.*, {_notify_queued('up')} FROM up ORDER BY coalesce(not_before, created_at), id"
)


#: claim ``$1`` (ids) for worker ``$2`` with a lease of ``$3`` microseconds: rows are locked
#: in id order (no deadlock between claimers) and only those still queued are taken.
#:
#: Rows are found by primary key alone and their state tested once locked (a locked row is
#: its latest version): with ``AND state = 'queued'`` in the lookup, a planner with stale
#: statistics (a queue filled since the last ANALYZE) reads every queued run through the
#: partial outbox index instead (10,000 queued: 6 ms per claim against 0.1 ms).
def _claim(locked: str, where: str, worker: str, lease: str) -> str:
    """The claim of the rows of CTE ``locked`` (``id`` and more) that pass ``where``: each
    becomes running for ``worker`` with a lease of ``lease`` µs, with its attempt and its
    event; the claimed runs are CTE ``claimed``."""
    return (
        f"WITH clock AS ({CLOCK} AS us), locked AS ({locked}),"
        " claimed AS (UPDATE runs SET state = 'running', attempt = runs.attempt + 1,"
        f" started_at = clock.us, worker_id = {worker}, lease_until = clock.us + {lease},"
        f" updated_at = clock.us FROM locked, clock WHERE runs.id = locked.id AND {where}"
        f" RETURNING {shared.RUN_COLUMNS}),"
        f" att AS (INSERT INTO attempts ({shared.ATTEMPT_COLUMNS}) SELECT id, attempt, {worker},"
        " 'running', started_at, NULL, NULL, NULL, '', '' FROM claimed),"
        f" ev AS (INSERT INTO events ({EVENT_FIELDS}) SELECT started_at, id, job, 'queued',"
        f" 'running', NULL, attempt, {worker} FROM claimed)"
    )


CLAIM = (
    _claim(
        "SELECT id, state FROM runs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        "locked.state = 'queued'",
        "$2::text",
        "$3::bigint",
    )
    + " SELECT * FROM claimed"
)

#: worker ``$1`` holding ``$2`` runs, ``$3``/``$4`` (ids, attempts), lease ``$5`` µs: returns
#: the held ids it no longer holds
HEARTBEAT = (
    f"WITH clock AS ({CLOCK} AS us),"
    " w AS (UPDATE workers SET last_heartbeat = clock.us, running = $2 FROM clock"
    " WHERE workers.id = $1),"
    " held AS (SELECT * FROM unnest($3::text[], $4::int[]) AS h(id, attempt)),"
    " lk AS (SELECT runs.id FROM runs JOIN held ON runs.id = held.id"
    f" AND runs.attempt = held.attempt WHERE runs.{RUNNING} ORDER BY runs.id FOR UPDATE OF runs),"
    " kept AS (UPDATE runs SET lease_until = clock.us + $5::bigint, updated_at = clock.us"
    " FROM lk, clock WHERE runs.id = lk.id RETURNING runs.id)"
    " SELECT held.id FROM held WHERE held.id NOT IN (SELECT id FROM kept)"
)


class FinishSelected(NamedTuple):
    """A row of ``FINISH_SELECT``: a :class:`~tss.store.sql.rows.FinishRow`, the run's pool
    and the store's now."""

    id: str
    state: str
    attempt: int
    lease_until: int | None
    job: str
    not_before: int | None
    queued_at: int | None
    published_at: int | None
    flow_id: str | None
    pool: str
    now_us: int

    @property
    def current(self) -> FinishRow:
        return FinishRow._make(self[: len(FinishRow._fields)])


#: what plan_finish reads, locked in id order, then the pool and the store's now
FINISH_SELECT = (
    f"SELECT {shared.FINISH_COLUMNS}, pool, {NOW_US} FROM runs WHERE id = ANY($1::text[])"
    " ORDER BY id FOR UPDATE"
)
FINISH_RUN_TYPES = ("text",) + ("bigint",) * 5 + ("text",) * 3 + ("int", "text")
FINISH_ATTEMPT_TYPES = ("text", "bigint") + ("text",) * 5 + ("int",)
#: plan_finish's rows as arrays: runs $1..$11, attempts $12..$19, events $20..$27
FINISH_WRITE = (
    "WITH r AS (UPDATE runs SET state = u.state, updated_at = u.updated_at,"
    " finished_at = u.finished_at, not_before = u.not_before, queued_at = u.queued_at,"
    " published_at = u.published_at, lease_until = NULL, error = u.error, result = u.result,"
    " reason = u.reason, handbacks = runs.handbacks + u.handed_back"
    f" FROM {unnest(FINISH_RUN_TYPES)} AS u(state, updated_at, finished_at, not_before,"
    " queued_at, published_at, error, result, reason, handed_back, id)"
    " WHERE runs.id = u.id RETURNING runs.state, runs.pool),"
    " a AS (UPDATE attempts SET state = v.state, finished_at = v.finished_at, error = v.error,"
    " result = v.result, stdout = v.stdout, stderr = v.stderr"
    f" FROM {unnest(FINISH_ATTEMPT_TYPES, 12)} AS v(state, finished_at, error, result, stdout,"
    " stderr, run_id, number) WHERE attempts.run_id = v.run_id AND attempts.number = v.number),"
    f" e AS ({event_insert(20)})"
    f" SELECT CASE r.state WHEN 'queued' THEN {_notify_queued('r')}"
    f" WHEN 'retrying' THEN {_WAKE} END FROM r"
)

#: outcomes, one array each: run id, attempt, target, attempt state, retry delay (µs, NULL:
#: no retry), error, result, reason, stdout, stderr, require_expired
FINISH_NOW_TYPES = ("text", "int", "text", "text", "bigint") + ("text",) * 5 + ("bool",)
_TERMINAL = ", ".join(f"'{state.value}'" for state in sorted(TERMINAL_STATES))
#: :data:`FINISH_SELECT`, ``plan_finish`` and :data:`FINISH_WRITE` in one statement, for
#: runs outside flows (a flow's run, whose end may decide its waiting runs, goes through the
#: transaction that settles them): the fencing of ``tss.core.fencing.may_finish`` is in the
#: ``WHERE`` (the row lock an ``UPDATE`` takes re-checks it against a concurrent change), and
#: the changes of ``finish_change`` are in the ``SET``. Actor ``$12``. Returns the id of each
#: run it finished: a run not returned was refused, or is in a flow.
_FINISH_CTES = (
    f"WITH u AS (SELECT * FROM {unnest(FINISH_NOW_TYPES)} AS u(id, n, target, astate, delay,"
    f" error, result, reason, stdout, stderr, expired)), t AS (SELECT {NOW_US} AS now),"
    " r AS (UPDATE runs SET state = u.target, updated_at = t.now,"
    f" finished_at = CASE WHEN u.target IN ({_TERMINAL}) THEN t.now END,"
    " not_before = CASE WHEN u.delay IS NULL THEN runs.not_before ELSE t.now + u.delay END,"
    " queued_at = CASE WHEN u.target = 'queued' THEN t.now ELSE runs.queued_at END,"
    " published_at = CASE WHEN u.target = 'queued' THEN NULL ELSE runs.published_at END,"
    " lease_until = NULL, error = u.error, result = u.result, reason = u.reason,"
    " handbacks = runs.handbacks + (u.target = 'queued')::int"
    " FROM u, t WHERE runs.id = u.id AND runs.state = 'running' AND runs.attempt = u.n"
    " AND runs.flow_id IS NULL"
    " AND NOT (u.expired AND runs.lease_until IS NOT NULL AND runs.lease_until > t.now)"
    " RETURNING runs.id, runs.job, runs.state, runs.pool, runs.attempt, t.now, u.astate,"
    " u.error, u.result, u.reason, u.stdout, u.stderr),"
    " a AS (UPDATE attempts SET state = r.astate, finished_at = r.now, error = r.error,"
    " result = r.result, stdout = r.stdout, stderr = r.stderr FROM r"
    " WHERE attempts.run_id = r.id AND attempts.number = r.attempt),"
    f" e AS (INSERT INTO events ({EVENT_FIELDS}) SELECT r.now, r.id, r.job, 'running', r.state,"
    " r.reason, r.attempt, $12::text FROM r),"
    " n AS (SELECT r.id, CASE r.state WHEN 'queued' THEN"
    f" {_notify_queued('r')} WHEN 'retrying' THEN {_WAKE} END AS note FROM r)"
)
FINISH_NOW = f"{_FINISH_CTES} SELECT id, note FROM n"


def _shifted(sql: str, by: int) -> str:
    """``sql`` with each ``$n`` placeholder made ``$(n + by)``."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + by}", sql)


#: cancel: at ``$1``, reason ``$2``, runs ``$3``; running attempts ``$4``/``$5``; events $6..
CANCEL = (
    "WITH r AS (UPDATE runs SET state = 'cancelled', updated_at = $1::bigint,"
    " finished_at = $1::bigint, lease_until = NULL, reason = $2::text"
    " WHERE id = ANY($3::text[])),"
    " a AS (UPDATE attempts SET state = 'cancelled', finished_at = $1::bigint"
    f" FROM {unnest(('text', 'int'), 4)} AS v(run_id, number)"
    " WHERE attempts.run_id = v.run_id AND attempts.number = v.number"
    " AND attempts.finished_at IS NULL),"
    f" e AS ({event_insert(6)}) SELECT 1"
)

#: fail queued runs (locked by the caller) that no live worker can take, with their events
FAIL_QUEUED = (
    "WITH r AS (UPDATE runs SET state = 'failed', updated_at = $1::bigint,"
    " finished_at = $1::bigint, reason = $2::text, error = $3::text"
    " WHERE id = ANY($4::text[]) AND state = 'queued'),"
    f" e AS ({event_insert(5)}) SELECT 1"
)

#: fires of job ``$1`` made ahead of their time as of ``$2``, locked
AHEAD = numbered(f"{shared.AHEAD} FOR UPDATE")
#: a job's active runs, locked (concurrency: replace)
ACTIVE_RUNS = f"{RUNS} WHERE {ACTIVE} AND job = $1 ORDER BY id FOR UPDATE"

NEXT_WAKEUP = (
    "SELECT (SELECT min(next_fire_at) FROM jobs WHERE paused = false) - $1::bigint,"
    f" (SELECT min(not_before) FROM runs WHERE {WAITING}) - $2::bigint,"
    f" (SELECT min(created_at) FROM runs WHERE {WAITING} AND not_before IS NULL)"
)

FIND_UNPUBLISHED = (
    f"SELECT * FROM ({RUNS} WHERE {QUEUED} AND published_at IS NULL"
    f" AND queued_at <= {NOW_US} - $1::bigint"
    f" UNION ALL {RUNS} WHERE {QUEUED} AND published_at <= {NOW_US} - $2::bigint) AS r"
    " ORDER BY queued_at, id LIMIT $3"
)

#: mark published what is not locked by someone else: a run being claimed or cancelled
#: right now is no longer in the outbox anyway
MARK_PUBLISHED = (
    f"UPDATE runs SET published_at = {NOW_US} FROM (SELECT id FROM runs"
    " WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE SKIP LOCKED) AS l WHERE runs.id = l.id"
)

FETCH_QUEUED = (
    f"{RUNS} WHERE {QUEUED} AND pool = ANY($1::text[])"
    " ORDER BY priority DESC, queued_at, id LIMIT $2"
)

#: a run's task type, read without parsing its policy: a policy is written with its
#: ``type`` first (``RunPolicy.to_dict``; a test holds it), as ``{"type":"noop",...``, and a
#: type name holds no quote, so the type is the fourth field between quotes; other text is
#: parsed. About 0.15 µs a row against 2.3 µs for ``policy::jsonb ->> 'type'``.
_TYPE = (
    "(CASE WHEN starts_with(policy, '{\"type\":\"') THEN split_part(policy, '\"', 4)"
    " ELSE policy::jsonb ->> 'type' END)"
)
#: a run that requires no labels, told without parsing its policy (0.13 µs a row): the
#: policy has a ``requires`` key only when the job requires some (the word can be elsewhere
#: too, as a ``retry_on`` entry: then the exact test decides)
_NO_LABELS = "strpos(policy, '\"requires\"') = 0"


def _claim_next_lock(types: str, labels: str) -> str:
    """The next ``$2`` queued runs of pools ``$1`` that a worker with task ``types``
    (``text[]``, NULL: any) and ``labels`` (a ``jsonb`` array) can take, with what each
    needs, locked for this transaction; rows another claimer holds are skipped, so
    concurrent claimers take disjoint runs instead of waiting on each other.

    Each pool is read on its own, in the order of ``ix_runs_queued`` (pool, priority DESC,
    queued_at, id): the first ``$2`` rows of each that pass the filter, then the best ``$2``
    of those. The filter is applied as the index is read, so runs of other types, or
    requiring a label the worker lacks, are passed over and never hold back the runs behind
    them. A filter ``pool = ANY(...)`` instead reads and sorts every queued run of the
    pools (10,000 queued: 190 ms per claim against 0.1 ms). Rows of another pool that lose
    the final cut stay locked until this short transaction ends."""
    return (
        "SELECT r.id, r.cores, r.memory FROM unnest($1::text[]) AS p(pool) CROSS JOIN LATERAL"
        " (SELECT id, priority, queued_at,"
        " coalesce((policy::jsonb ->> 'cores')::float8, 0) AS cores,"
        " coalesce((policy::jsonb ->> 'memory')::int, 0) AS memory"
        f" FROM runs WHERE {QUEUED} AND runs.pool = p.pool"
        f" AND ({types}::text[] IS NULL OR {_TYPE} = ANY({types}::text[]))"
        f" AND ({_NO_LABELS}"
        f" OR coalesce(policy::jsonb -> 'requires', '[]'::jsonb) <@ {labels}::jsonb)"
        " ORDER BY priority DESC, queued_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) AS r"
        " ORDER BY r.priority DESC, r.queued_at, r.id LIMIT $2"
    )


#: :func:`_claim_next_lock` with the types ``$3`` and the labels ``$4``
CLAIM_NEXT_LOCK = _claim_next_lock("$3", "$4")

#: the next ``$2`` queued runs of pools ``$1`` for task types ``$3`` and labels ``$4`` (as
#: :data:`CLAIM_NEXT_LOCK`) claimed for worker ``$5`` (lease ``$6`` µs) in one statement,
#: when none of them asks for cores or memory (most runs): one round trip instead of four.
#: Rows: whether they all fit that way, then the claimed run (NULLs when none was); when
#: they do not, nothing is claimed and the caller fits them to its room.
_PLAIN = "NOT EXISTS (SELECT 1 FROM locked WHERE locked.cores <> 0 OR locked.memory <> 0)"
CLAIM_NEXT = (
    _claim(CLAIM_NEXT_LOCK, _PLAIN, "$5::text", "$6::bigint")
    + f" SELECT {_PLAIN}, claimed.* FROM (SELECT 1) AS one LEFT JOIN claimed ON true"
)

#: :data:`FINISH_NOW` and :data:`CLAIM_NEXT` in one statement ($1..$12 as the first, then
#: the second's from $13): a worker of the store broker reports what ended and takes what
#: it has room for in one round trip. The finished rows are running and the claimed ones
#: queued, so no row is written twice. One row: the ids finished, whether the claim was
#: plain (as CLAIM_NEXT), then a claimed run (NULLs when none was); more rows, one per run.
FINISH_CLAIM = (
    f"{_FINISH_CTES}, "
    + _shifted(_claim(CLAIM_NEXT_LOCK, _PLAIN, "$5::text", "$6::bigint"), 12).removeprefix("WITH ")
    + f" SELECT (SELECT array_agg(n.id) FROM n), {_PLAIN}, claimed.*"
    " FROM (SELECT 1) AS one LEFT JOIN claimed ON true"
)

EXPIRED = (
    f"SELECT * FROM ({RUNS} WHERE {RUNNING} AND lease_until <= {NOW_US}"
    f" UNION ALL {RUNS} WHERE {RUNNING} AND lease_until IS NULL) AS r"
    " ORDER BY coalesce(lease_until, updated_at), id LIMIT $1"
)

_TIMEOUT = "(policy::jsonb ->> 'timeout')::float8"
OVERDUE = (
    f"{RUNS} WHERE {RUNNING} AND started_at IS NOT NULL AND {_TIMEOUT} IS NOT NULL"
    f" AND started_at + round(({_TIMEOUT} + $1::float8) * 1000000)::bigint < {NOW_US}"
    " ORDER BY started_at, id LIMIT $2"
)

SAVE_LOGS = (
    "UPDATE attempts SET stdout = v.stdout, stderr = v.stderr"
    f" FROM {unnest(('text', 'int', 'text', 'text'))} AS v(run_id, number, stdout, stderr)"
    " WHERE attempts.run_id = v.run_id AND attempts.number = v.number"
    " AND attempts.finished_at IS NULL"
)

LAST_RUNS = (
    "SELECT r.* FROM unnest($1::text[]) AS n(name) CROSS JOIN LATERAL"
    f" ({RUNS} WHERE runs.job = n.name ORDER BY runs.id DESC LIMIT 1) AS r"
)

THROUGHPUT = (
    "SELECT finished_at / $1::bigint AS slot, state, count(*) FROM runs"
    " WHERE finished_at >= $2 GROUP BY slot, state ORDER BY slot, state"
)


# -- jobs ------------------------------------------------------------------------------------

#: a job's edges (``job_deps``), inserted when the job row was written (``{1}``): parents in
#: the array ``${0}``, the child ``$1`` (create) or ``$7`` (update)
_EDGES_INSERT = (
    "INSERT INTO job_deps (parent, child) SELECT p, (SELECT name FROM {1})"
    " FROM unnest(${0}::text[]) AS p WHERE EXISTS (SELECT 1 FROM {1}) ON CONFLICT DO NOTHING"
)


def wake_if_scheduled(alias: str) -> str:
    """A column that wakes the schedulers when the job row ``alias`` has a next fire."""
    return (
        f"CASE WHEN {alias}.next_fire_at IS NOT NULL AND NOT {alias}.paused"
        f" THEN pg_notify('{WAKE_CHANNEL}', '') END"
    )


JOB_INSERT = (
    "WITH ins AS (INSERT INTO jobs (name, spec, type, pool, tags, paused, next_fire_at,"
    f" created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, {NOW_US},"
    f" {NOW_US}, 1) RETURNING name, created_at, next_fire_at, paused),"
    f" e AS ({_EDGES_INSERT.format(8, 'ins')})"
    f" SELECT created_at, {wake_if_scheduled('ins')} FROM ins"
)
JOB_UPDATE = (
    "WITH up AS (UPDATE jobs SET spec = $1, type = $2, pool = $3, tags = $4, paused = $5,"
    " pause = CASE WHEN $5 THEN pause END, pause_until = CASE WHEN $5 THEN pause_until END,"
    f" next_fire_at = $6, updated_at = {NOW_US}, version = version + 1"
    " WHERE name = $7 RETURNING name, created_at, updated_at, version, next_fire_at,"
    " paused),"
    " d AS (DELETE FROM job_deps WHERE child = $7 AND EXISTS (SELECT 1 FROM up)"
    " AND parent <> ALL($8::text[])),"
    f" e AS ({_EDGES_INSERT.format(8, 'up')})"
    f" SELECT created_at, updated_at, version, {wake_if_scheduled('up')} FROM up"
)
JOB_PAUSE = (
    f"UPDATE jobs SET spec = $1, paused = $2, updated_at = {NOW_US}, next_fire_at = $4,"
    f" pause = $5, pause_until = $6 WHERE name = $3 RETURNING updated_at,"
    f" {wake_if_scheduled('jobs')}"
)
#: the paused jobs whose pause has ended, locked (``ix_jobs_pause_until``); ``$1`` the limit
PAUSES_DUE = (
    f"{JOBS} WHERE pause_until IS NOT NULL AND pause_until <= {NOW_US} AND paused"
    " ORDER BY pause_until, name LIMIT $1 FOR UPDATE SKIP LOCKED"
)
JOB_LOCK = f"{JOBS} WHERE name = $1 FOR UPDATE"
JOBS_NAMED = f"{JOBS} WHERE name = ANY($1::text[])"
FREE_FIRES = "UPDATE runs SET scheduled_for = NULL WHERE id = ANY($1::text[])"

# -- runs, workers, events, tokens -----------------------------------------------------------

RUNS_LOCK = f"{RUNS} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
QUEUED_LOCK = f"{RUNS} WHERE id = ANY($1::text[]) AND state = 'queued' FOR UPDATE"
ATTEMPTS = f"SELECT {shared.ATTEMPT_COLUMNS} FROM attempts WHERE run_id = $1 ORDER BY number"
LOGS = (
    "SELECT stdout, stderr FROM attempts WHERE run_id = $1"
    " AND ($2::int IS NULL OR number = $2::int) ORDER BY number DESC LIMIT 1"
)
WORKER_UPSERT = numbered(shared.WORKER_UPSERT)
WORKER_STATE = "UPDATE workers SET state = $1 WHERE id = $2 RETURNING id"
WORKERS = f"SELECT {shared.WORKER_COLUMNS} FROM workers ORDER BY id"
MARK_DEAD = (
    f"UPDATE workers SET state = 'dead' WHERE {shared.LIVE_WORKER}"
    " AND (coalesce(last_heartbeat, started_at) IS NULL"
    f" OR coalesce(last_heartbeat, started_at) <= {NOW_US} - $1::bigint) RETURNING id"
)
LAST_EVENT = "SELECT max(id) FROM events"
EVENTS = (
    f"SELECT {shared.EVENT_COLUMNS} FROM events WHERE id > $1"
    " AND ($2::text IS NULL OR run_id = $2::text) ORDER BY id LIMIT $3"
)
TOKEN_INSERT = numbered(shared.TOKEN_INSERT)
REVOKE = (
    f"UPDATE tokens SET revoked_at = {NOW_US} WHERE (id = $1 OR name = $1)"
    f" AND revoked_at IS NULL RETURNING {shared.TOKEN_COLUMNS}"
)
TOKEN_NAMED = "SELECT 1 FROM tokens WHERE id = $1 OR name = $1"
TOUCH = f"UPDATE tokens SET last_used_at = {NOW_US} WHERE id = $1"
#: one statement: expired sessions go as the new one comes
SESSION_INSERT = numbered(
    f"WITH purged AS ({shared.SESSION_PURGE.format(now=NOW_US)}) {shared.SESSION_INSERT}"
)
SESSION_SELECT = numbered(shared.SESSION_SELECT)
SESSION_DELETE = numbered(shared.SESSION_DELETE)

# -- alerts, leases, silences ----------------------------------------------------------------

#: the alerts columns of :class:`tss.store.sql.rows.AlertRow`, typed for unnest
ALERT_TYPES = ("text",) * 9 + ("int", "text", "bigint", "bigint", "bigint")
#: where the free text is in an AlertRow: subject, text, error
ALERT_TEXT = (3, 4, 10)
#: insert AlertRow arrays, skipping ids stored already; returns the ids inserted
ALERT_INSERT = (
    f"INSERT INTO alerts ({shared.ALERT_COLUMNS}) SELECT * FROM {unnest(ALERT_TYPES)}"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)
ALERT_SELECT = f"{shared.ALERTS} WHERE id = $1"
#: AlertUpdateRow arrays; a NULL next_at keeps the stored one
ALERT_SETTLE = (
    "UPDATE alerts SET state = u.state, attempts = u.attempts,"
    " next_at = coalesce(u.next_at, alerts.next_at), error = u.error, sent_at = u.sent_at"
    f" FROM {unnest(('text', 'int', 'bigint', 'text', 'bigint', 'text'))}"
    " AS u(state, attempts, next_at, error, sent_at, id) WHERE alerts.id = u.id"
)
#: where the free text is in an AlertUpdateRow: error
ALERT_UPDATE_TEXT = (3,)


@functools.cache
def due_alerts(ident: str) -> str:
    """Pending alerts due by the store's now, up to ``$1``, ties by id compared as ``ident``."""
    return numbered(shared.DUE_ALERTS.format(now=NOW_US, ident=ident))


@functools.cache
def silences(job: str) -> str:
    """Silences not over by the store's now, by job compared as ``job``."""
    return shared.SILENCES.format(now=NOW_US, job=job)


#: ``$1`` name, ``$2`` holder, ``$3`` ttl (microseconds), ``$4`` the state of a new lease
LEASE_TAKE = numbered(shared.LEASE_TAKE.format(now=NOW_US))
LEASE_SAVE = numbered(shared.LEASE_SAVE) + " RETURNING name"
SILENCE_UPSERT = numbered(shared.SILENCE_UPSERT)
SILENCE_DELETE = numbered(shared.SILENCE_DELETE) + " RETURNING job"
