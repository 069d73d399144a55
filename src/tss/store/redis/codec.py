"""Redis hashes <-> models for the Redis store.

Hash values are text: times are integer microseconds since the epoch, JSON values (params,
policy, result, error, spec) are the same text the SQL stores keep (:mod:`tss.store.encoding`),
and a field that is ``None`` is simply absent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, cast

import orjson

from tss.core.models import (
    Attempt,
    Event,
    Job,
    NewRun,
    Outcome,
    Role,
    Run,
    Token,
    WorkerInfo,
)
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import WorkerState
from tss.store import encoding

Hash = dict[str, str]

#: A run's hash fields, each with the SQL stores' column it holds, in the order of
#: :class:`~tss.store.encoding.RunRow` (a test holds it): the scripts' ``row()`` gives a
#: run's values in this order (they get the field list from here).
RUN_COLUMNS = {
    "id": "id",
    "job": "job",
    "state": "state",
    "trigger": "trigger",
    "params": "params",
    "prio": "priority",
    "pool": "pool",
    "policy": "policy",
    "attempt": "attempt",
    "created": "created_at",
    "updated": "updated_at",
    "sched": "scheduled_for",
    "nb": "not_before",
    "queued": "queued_at",
    "started": "started_at",
    "finished": "finished_at",
    "lease": "lease_until",
    "worker": "worker_id",
    "ikey": "idempotency_key",
    "result": "result",
    "error": "error",
    "reason": "reason",
    "retry_of": "retry_of",
    "flow": "flow_id",
    "handbacks": "handbacks",
}
#: a run's fields in the order a row (one JSON array per run) gives them
RUN_FIELDS = tuple(RUN_COLUMNS)
#: the fields that hold integers (priority, attempt, the times, handbacks): text in a row
RUN_INTEGERS = frozenset(
    {"prio", "attempt", "created", "updated", "sched", "nb", "queued", "started", "finished"}
    | {"lease", "handbacks"}
)
#: per field of a row, in its order: whether it holds an integer
_HOLDS_INTEGER = tuple(field in RUN_INTEGERS for field in RUN_FIELDS)


def pairs(flat: Sequence[str]) -> Hash:
    """A hash from the flat ``[field, value, ...]`` list that HGETALL gives inside Lua."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _when(h: Hash, field: str) -> Any:
    value = h.get(field)
    return None if value is None else from_micros(int(value))


def micros_text(value: Any) -> str | None:
    """A datetime as stored (None stays None)."""
    return None if value is None else str(to_micros(value))


# -- runs --------------------------------------------------------------------------------------


def new_run_item(new: NewRun) -> dict[str, Any]:
    """A new run as the insert in the Lua scripts takes it: the fields to write (``f``) and
    what the uniqueness checks and the first event need."""
    fields = [
        *("id", new.id, "job", new.job, "state", new.state.value, "trigger", new.trigger),
        *("params", encoding.dumps(new.params), "prio", str(new.priority), "pool", new.pool),
        *("policy", encoding.policy_text(new.policy), "attempt", "0", "handbacks", "0"),
    ]
    optional = {
        "sched": micros_text(new.scheduled_for),
        "nb": micros_text(new.not_before),
        "ikey": new.idempotency_key,
        "reason": new.reason,
        "retry_of": new.retry_of,
        "flow": new.flow_id,
        "tmo": None if new.policy.timeout is None else str(encoding.seconds_us(new.policy.timeout)),
    }
    fields += [
        part for key, value in optional.items() if value is not None for part in (key, value)
    ]
    item: dict[str, Any] = {"id": new.id, "job": new.job, "state": new.state.value, "f": fields}
    if new.idempotency_key is not None:
        item["ikey"] = new.idempotency_key
    fire = encoding.fire_key(new)
    if fire is not None:
        item["fire"] = str(fire[1])
    if new.reason is not None:
        item["reason"] = new.reason
    if new.flow_id is not None:
        item["flow"] = new.flow_id
    return item


def run_of(text: str) -> Run:
    """A run from its row: the JSON array of :data:`RUN_FIELDS` that the scripts' ``row()``
    gives, decoded as the SQL stores decode a :class:`~tss.store.encoding.RunRow` (whose
    columns :data:`RUN_COLUMNS` names in the same order) once its integers are numbers."""
    row: list[Any] = orjson.loads(text)
    for i, (value, integer) in enumerate(zip(row, _HOLDS_INTEGER, strict=True)):
        if value is False:  # a field the hash does not have
            row[i] = None
        elif integer:
            with contextlib.suppress(ValueError, TypeError):  # run_of quarantines the run
                row[i] = int(value)
    return encoding.run_of(row)


def runs_of(rows: Sequence[str | None]) -> list[Run]:
    """Runs from rows (empty ones, of runs that are gone, are left out)."""
    return [run_of(row) for row in rows if row]


def outcome_item(out: Outcome) -> dict[str, Any]:
    """An outcome as the finish script takes it."""
    item: dict[str, Any] = {
        "id": out.run_id,
        "n": str(out.attempt),
        "target": out.target.value,
        "expired": out.require_expired,
        "astate": (out.attempt_state or out.target).value,
        "delay": str(encoding.seconds_us(out.retry_delay or 0.0)),
        "out": out.stdout,
        "err": out.stderr,
    }
    optional = {
        "reason": out.reason,
        "result": encoding.dumps_or_none(out.result),
        "error": encoding.error_text(out.error),
    }
    item.update((key, value) for key, value in optional.items() if value is not None)
    return item


def attempt_of(run_id: str, h: Hash) -> Attempt:
    result = h.get("result")
    return Attempt(
        run_id=run_id,
        number=int(h["number"]),
        worker_id=h.get("worker"),
        state=encoding.STATES[h["state"]],
        started_at=from_micros(int(h["started"])),
        finished_at=_when(h, "finished"),
        error=encoding.error_of(h.get("error")),
        result=None if result is None else orjson.loads(result),
        stdout=h.get("stdout", ""),
        stderr=h.get("stderr", ""),
    )


def event_of(entry_id: str, text: str) -> Event:
    """An event from its stream entry: the id is ``<event id>-0``, the text the JSON array
    ``[at, run, job, source, target, actor, reason, attempt]`` (false where missing)."""
    at, run_id, job, source, target, actor, reason, attempt = orjson.loads(text)
    return Event(
        id=int(entry_id.partition("-")[0]),
        at=from_micros(int(at)),
        run_id=run_id,
        job=job,
        source=None if source is False else encoding.STATES[source],
        target=encoding.STATES[target],
        actor=actor,
        reason=None if reason is False else reason,
        attempt=int(attempt),
    )


# -- jobs, workers, tokens ---------------------------------------------------------------------


def job_of(h: Hash, name: str = "") -> Job:
    spec = encoding.spec_of(h["spec"], name)
    paused = h.get("paused") == "1"
    if spec.paused != paused:  # paused and resumed since the definition was written
        spec = spec.model_copy(update={"paused": paused})
    return Job(
        spec,
        from_micros(int(h["created"])),
        from_micros(int(h["updated"])),
        _when(h, "next"),
        int(h["version"]),
    )


def worker_fields(info: WorkerInfo) -> list[str]:
    fields = [
        *("hostname", info.hostname, "pid", str(info.pid)),
        *(
            "pools",
            encoding.dumps(list(info.pools)),
            "task_types",
            encoding.dumps(list(info.task_types)),
        ),
        *("concurrency", str(info.concurrency), "cores", repr(float(info.cores))),
        *("memory", str(info.memory), "version", info.version, "running", str(info.running)),
        *("labels", encoding.dumps(list(info.labels))),
    ]
    if info.started_at is not None:
        fields += ["started", str(to_micros(info.started_at))]
    return fields


def worker_of(worker_id: str, h: Hash) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id,
        hostname=h["hostname"],
        pid=int(h["pid"]),
        pools=orjson.loads(h["pools"]),
        task_types=orjson.loads(h["task_types"]),
        concurrency=int(h["concurrency"]),
        cores=float(h["cores"]),
        memory=int(h["memory"]),
        version=h["version"],
        state=cast(WorkerState, h["state"]),  # written from WORKER_STATES only
        started_at=_when(h, "started"),
        last_heartbeat=_when(h, "heartbeat"),
        running=int(h.get("running", "0")),
        # A worker registered before labels existed has none.
        labels=orjson.loads(h.get("labels", "[]")),
    )


def token_fields(token: Token) -> list[str]:
    fields = ["id", token.id, "name", token.name, "role", token.role, "hash", token.secret_hash]
    fields += ["created", str(to_micros(token.created_at))]
    for key, value in (
        ("expires", token.expires_at),
        ("revoked", token.revoked_at),
        ("used", token.last_used_at),
    ):
        if value is not None:
            fields += [key, str(to_micros(value))]
    return fields


def token_of(h: Hash) -> Token:
    return Token(
        id=h["id"],
        name=h["name"],
        role=cast(Role, h["role"]),  # written from a Role
        secret_hash=h["hash"],
        created_at=from_micros(int(h["created"])),
        expires_at=_when(h, "expires"),
        revoked_at=_when(h, "revoked"),
        last_used_at=_when(h, "used"),
    )
