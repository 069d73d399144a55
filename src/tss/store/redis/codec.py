"""Redis hashes <-> models for the Redis store.

Hash values are text: times are integer microseconds since the epoch, JSON values (params,
policy, result, error, spec) are the same text the SQL stores keep (:mod:`tss.store.encoding`),
and a field that is ``None`` is simply absent.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import orjson

from tss.core.alerts import Alert, Silence
from tss.core.models import (
    Attempt,
    Event,
    Job,
    NewRun,
    Outcome,
    PauseInfo,
    Role,
    Run,
    Token,
    WorkerInfo,
)
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import WorkerState
from tss.store import encoding

Hash = dict[str, str]
T = TypeVar("T")
log = logging.getLogger(__name__)

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
        pause_of(h.get("pause")) if paused else None,
    )


def pause_text(pause: PauseInfo | None) -> str:
    """A pause as a job's hash keeps it ('' for none)."""
    return "" if pause is None else encoding.dumps(pause.to_dict())


def pause_of(text: str | None) -> PauseInfo | None:
    return PauseInfo.from_dict(encoding.loads_or_none(text or None))


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


# -- alerts and silences -----------------------------------------------------------------------

#: added to an alert's ``created_at`` (microseconds) in its listing member, so that every
#: datetime gives 19 digits and the members sort as the times do (see :func:`alert_member`)
_CREATED_OFFSET = 2**62
_CREATED_DIGITS = 19


def alert_member(created_us: int, alert_id: str) -> str:
    """An alert's member in the listing indexes (zsets of score 0, read by lex range):
    its ``created_at`` as 19 fixed-width digits, ``:``, its id. The members sort as the
    ``(created_us, id)`` keys of the listing (UTF-8 sorts as code points)."""
    return f"{created_us + _CREATED_OFFSET:0{_CREATED_DIGITS}d}:{alert_id}"


def alert_key(member: str) -> tuple[int, str]:
    """``(created_us, id)`` of a listing member (:func:`alert_member`)."""
    return int(member[:_CREATED_DIGITS]) - _CREATED_OFFSET, member[_CREATED_DIGITS + 1 :]


def alert_fields(alert: Alert) -> list[str]:
    """An alert's hash as field/value pairs (absent: the fields that are None)."""
    fields = [
        *("id", alert.id, "channel", alert.channel, "kind", alert.kind),
        *("subject", alert.subject, "text", alert.text),
        *("created", str(to_micros(alert.created_at)), "next", str(to_micros(alert.next_at))),
        *("details", encoding.dumps(alert.details), "state", alert.state),
        *("attempts", str(alert.attempts)),
    ]
    optional = {
        "job": alert.job,
        "run": alert.run_id,
        "error": alert.error,
        "sent": micros_text(alert.sent_at),
    }
    fields += [
        part for key, value in optional.items() if value is not None for part in (key, value)
    ]
    return fields


def alert_of(h: Hash, alert_id: str = "") -> Alert:
    """An alert from its hash. A damaged hash never makes this raise (one bad record must
    not stop a listing or the keeper): what can be read comes back, with the reason under
    ``details["malformed"]``."""
    try:
        return _alert_of(h)
    except Exception as exc:  # any damage at all
        return _salvaged_alert(h, alert_id, exc)


def _details(text: str) -> dict[str, Any]:
    details = orjson.loads(text)
    if not isinstance(details, dict):
        raise TypeError(f"details are a {type(details).__name__}, not an object")
    return details


def _alert_of(h: Hash) -> Alert:
    return Alert(
        id=h["id"],
        channel=h["channel"],
        kind=h["kind"],
        subject=h["subject"],
        text=h["text"],
        created_at=from_micros(int(h["created"])),
        next_at=from_micros(int(h["next"])),
        job=h.get("job"),
        run_id=h.get("run"),
        details=_details(h["details"]),
        state=h["state"],
        attempts=int(h["attempts"]),
        error=h.get("error"),
        sent_at=_when(h, "sent"),
    )


def _salvaged_alert(h: Hash, alert_id: str, exc: BaseException) -> Alert:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    reason = f"the stored alert is malformed ({type(exc).__name__}: {first})"
    alert_id = h.get("id", alert_id)
    log.warning("alert %r: %s", alert_id, reason)

    def get(field: str, decode: Callable[[str], T], default: T) -> T:
        try:
            value = h.get(field)
            return default if value is None else decode(value)
        except Exception:
            return default

    epoch = from_micros(0)
    created = get("created", lambda v: from_micros(int(v)), epoch)
    return Alert(
        id=alert_id,
        channel=h.get("channel", ""),
        kind=h.get("kind", ""),
        subject=h.get("subject", ""),
        text=h.get("text", ""),
        created_at=created,
        next_at=get("next", lambda v: from_micros(int(v)), created),
        job=h.get("job"),
        run_id=h.get("run"),
        details={**get("details", _details, {}), "malformed": reason},
        state=h.get("state", "failed"),
        attempts=get("attempts", int, 0),
        error=h.get("error"),
        sent_at=get("sent", lambda v: from_micros(int(v)), None),
    )


def silence_text(silence: Silence) -> str:
    """A silence as stored (the value under its job in the silences hash)."""
    return encoding.dumps(
        {
            "until": to_micros(silence.until),
            "note": silence.note,
            "by": silence.by,
            "created": to_micros(silence.created_at),
        }
    )


def silence_of(job: str, text: str) -> Silence | None:
    """A silence from its stored text; None (logged) when it cannot be read."""
    try:
        value = orjson.loads(text)
        return Silence(
            job=job,
            until=from_micros(int(value["until"])),
            note=str(value["note"]),
            by=str(value["by"]),
            created_at=from_micros(int(value["created"])),
        )
    except Exception as exc:  # any damage at all: the other silences still list
        log.warning("the silence of job %r is malformed and was left out: %r", job, exc)
        return None
