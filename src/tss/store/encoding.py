"""Records <-> stored text and numbers, for every backend that serialises (SQL and Redis).

Times are integer microseconds since the epoch (UTC); JSON values are text. The functions
here are on the hot path (thousands of rows per second), so they are plain and cached where
a value repeats (a job's run policy, a job's spec). A run is stored as the columns of
:class:`RunRow`, in that order, by the SQL stores and by the Redis store's scripts alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import orjson

from tss.core.models import ErrorInfo, JobSpec, NewRun, Run, RunPolicy
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros, to_utc

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


def before_us(value: datetime | None) -> int:
    """An upper bound in microseconds: ``value``'s, or after every time when None."""
    return 2**62 if value is None else to_micros(value)


def when(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def error_text(error: ErrorInfo | None) -> str | None:
    return None if error is None else dumps(error.to_dict())


def error_of(text: str | None) -> ErrorInfo | None:
    return None if text is None else ErrorInfo.from_dict(orjson.loads(text))


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


# -- runs ------------------------------------------------------------------------------------


class RunRow(NamedTuple):
    """A run as stored: the ``runs`` columns (:data:`tss.store.sql.queries.RUN_FIELDS`)."""

    id: str
    job: str
    state: str
    trigger: str
    params: str
    priority: int
    pool: str
    policy: str
    attempt: int
    created_at: int
    updated_at: int
    scheduled_for: int | None
    not_before: int | None
    queued_at: int | None
    started_at: int | None
    finished_at: int | None
    lease_until: int | None
    worker_id: str | None
    idempotency_key: str | None
    result: str | None
    error: str | None
    reason: str | None
    retry_of: str | None
    flow_id: str | None
    handbacks: int


def run_of(values: Sequence[Any]) -> Run:
    """A run from its stored values (:class:`RunRow` order). A damaged value never makes
    this raise: the run comes back quarantined (see :func:`policy_of`) with what could be
    read."""
    try:
        return _run_of(*values)
    except Exception as exc:  # any damage at all: one bad row must not stop a process
        return _salvaged(RunRow._make(values), exc)


def _salvaged(r: RunRow, exc: BaseException) -> Run:
    reason = _unreadable("run", exc)
    log.warning("run %r: %s", r.id, reason)

    def get(value: Any, decode: Callable[[Any], T], default: T) -> T:
        try:
            return default if value is None else decode(value)
        except Exception:
            return default

    epoch = from_micros(0)
    kind = _stored_type(r.policy) if isinstance(r.policy, str) else "noop"
    params: Any = get(r.params, orjson.loads, {})
    return Run(
        id=str(r.id),
        job=str(r.job),
        state=get(r.state, STATES.__getitem__, RunState.QUEUED),
        trigger=get(r.trigger, str, "manual"),
        params=params if isinstance(params, dict) else {},
        priority=get(r.priority, int, 0),
        pool=get(r.pool, str, "default"),
        policy=RunPolicy.quarantined(kind, reason),
        attempt=get(r.attempt, int, 0),
        created_at=get(r.created_at, from_micros, epoch),
        updated_at=get(r.updated_at, from_micros, epoch),
        scheduled_for=get(r.scheduled_for, from_micros, None),
        not_before=get(r.not_before, from_micros, None),
        queued_at=get(r.queued_at, from_micros, None),
        started_at=get(r.started_at, from_micros, None),
        finished_at=get(r.finished_at, from_micros, None),
        lease_until=get(r.lease_until, from_micros, None),
        worker_id=get(r.worker_id, str, None),
        idempotency_key=get(r.idempotency_key, str, None),
        result=get(r.result, orjson.loads, None),
        error=get(r.error, error_of, None),
        reason=reason,
        retry_of=get(r.retry_of, str, None),
        flow_id=get(r.flow_id, str, None),
        handbacks=get(r.handbacks, int, 0),
    )


def _run_of(
    id: str, job: str, state: str, trigger: str, params: str, priority: int, pool: str,
    policy: str, attempt: int, created_at: int, updated_at: int, scheduled_for: int | None,
    not_before: int | None, queued_at: int | None, started_at: int | None,
    finished_at: int | None, lease_until: int | None, worker_id: str | None,
    idempotency_key: str | None, result: str | None, error: str | None, reason: str | None,
    retry_of: str | None, flow_id: str | None, handbacks: int,
) -> Run:  # fmt: skip
    # The parameters are RunRow's fields, in its order (a test checks): the hot path binds a
    # row to them by position once, then reads every value by name.
    return Run(
        id=id,
        job=job,
        state=STATES[state],
        trigger=trigger,
        params=orjson.loads(params),
        priority=priority,
        pool=pool,
        policy=policy_of(policy),
        attempt=attempt,
        created_at=from_micros(created_at),
        updated_at=from_micros(updated_at),
        scheduled_for=None if scheduled_for is None else from_micros(scheduled_for),
        not_before=None if not_before is None else from_micros(not_before),
        queued_at=None if queued_at is None else from_micros(queued_at),
        started_at=None if started_at is None else from_micros(started_at),
        finished_at=None if finished_at is None else from_micros(finished_at),
        lease_until=None if lease_until is None else from_micros(lease_until),
        worker_id=worker_id,
        idempotency_key=idempotency_key,
        result=None if result is None else orjson.loads(result),
        error=None if error is None else error_of(error),
        reason=reason,
        retry_of=retry_of,
        flow_id=flow_id,
        handbacks=handbacks,
    )


def fire_key(new: NewRun) -> tuple[str, int] | None:
    """``(job, scheduled_for)`` of a scheduled fire: at most one run each."""
    if new.trigger != "schedule" or new.scheduled_for is None:
        return None
    return new.job, to_micros(new.scheduled_for)


def created_run(new: NewRun, now_us: int, params: str | None = None) -> Run:
    """The run ``new`` becomes when it is stored at ``now_us``, its params read back as
    stored (``params``: their stored text, if written already). Built from what we have
    rather than decoded back: this is the fire path."""
    now = from_micros(now_us)
    text = dumps(new.params) if params is None else params
    decoded = orjson.loads(text) if new.params else {}
    return Run(
        id=new.id,
        job=new.job,
        state=new.state,
        trigger=new.trigger,
        params=decoded,
        priority=new.priority,
        pool=new.pool,
        policy=new.policy,
        attempt=0,
        created_at=now,
        updated_at=now,
        scheduled_for=None if new.scheduled_for is None else to_utc(new.scheduled_for),
        not_before=None if new.not_before is None else to_utc(new.not_before),
        queued_at=now if new.state is RunState.QUEUED else None,
        finished_at=now if new.state.terminal else None,
        idempotency_key=new.idempotency_key,
        reason=new.reason,
        retry_of=new.retry_of,
        flow_id=new.flow_id,
    )
