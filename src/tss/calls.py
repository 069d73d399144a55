"""The requests of the TSS REST API, built once for both clients (:mod:`tss.client`).

:class:`Calls` has one builder per endpoint: it returns a :class:`Call` (method, path,
query, body, headers and how to read the answer), which a client sends with its one-line
sender; :func:`read` turns an answer into the record it carries, or into the TSS error the
server raised (:func:`tss.errors.error_for_code`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson

from tss.api.schemas import (
    RUN_OUT,
    WORKER_OUT,
    AlertOut,
    AlertPage,
    ApplyOut,
    ChangedJobs,
    EventPage,
    FlowGraphOut,
    FlowPage,
    FlowRunOut,
    JobHealthOut,
    JobOut,
    JobPage,
    LatenessOut,
    LogsOut,
    NextFires,
    PruneOut,
    QueuesOut,
    RunOut,
    RunPage,
    SilenceOut,
    SilencePage,
    StatsOut,
    TokenCreated,
    TokenPage,
    TriggeredRuns,
    WorkerOut,
    WorkerPage,
)
from tss.api.schemas.history import AuditPage, RollbackOut, VersionDetail, VersionPage
from tss.api.schemas.ledger import (
    BackfillList,
    BackfillOut,
    BackfillRecord,
    FirePage,
    UpcomingOut,
)
from tss.core.models import JobSpec
from tss.core.states import RunState
from tss.errors import TSSError, Unavailable, error_for_code

T = TypeVar("T")
API = "/api/v1"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = {k: _param(v) for k, v in self.params.items() if v is not None}
        content = orjson.dumps(self.body) if self.body is not None else None
        headers = {**self.headers, "Content-Type": "application/json"} if content else None
        return http.build_request(
            self.method, self.path, params=params, content=content, headers=headers
        )


def _pause_body(note: str | None, until: str | datetime | None) -> dict[str, Any] | None:
    """The body of a pause: only what is given (none: no body)."""
    body: dict[str, Any] = {}
    if note is not None:
        body["note"] = note
    if until is not None:
        body["until"] = until.isoformat() if isinstance(until, datetime) else until
    return body or None


def _param(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, RunState):
        return value.value
    if isinstance(value, list | tuple):
        return [_param(v) for v in value]
    return value


def _nothing(_: Any) -> None:
    return None


def _runs(data: Any) -> list[RunOut]:
    return TriggeredRuns.model_validate(data).items


def _backfills(data: Any) -> list[BackfillRecord]:
    return BackfillList.model_validate(data).items


def _applied(data: Any) -> list[tuple[str, str]]:
    return [(item.name, item.action) for item in ApplyOut.model_validate(data).items]


def _seg(value: str) -> str:
    return quote(value, safe="")


def _spec(spec: JobSpec | dict[str, Any]) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_unset=True) if isinstance(spec, JobSpec) else spec


def _if_match(version: int | None) -> dict[str, str]:
    return {"If-Match": f'"{version}"'} if version is not None else {}


class Calls:
    """The request for each endpoint, built once for both clients."""

    @staticmethod
    def list_jobs(**query: Any) -> Call[JobPage]:
        return Call("GET", f"{API}/jobs", JobPage.model_validate, params=query)

    @staticmethod
    def get_job(name: str) -> Call[JobOut]:
        return Call("GET", f"{API}/jobs/{_seg(name)}", JobOut.model_validate)

    @staticmethod
    def create_job(spec: JobSpec | dict[str, Any]) -> Call[JobOut]:
        return Call("POST", f"{API}/jobs", JobOut.model_validate, body=_spec(spec))

    @staticmethod
    def replace_job(
        spec: JobSpec | dict[str, Any], expected_version: int | None = None
    ) -> Call[JobOut]:
        body = _spec(spec)
        path = f"{API}/jobs/{_seg(str(body.get('name', '')))}"
        return Call(
            "PUT", path, JobOut.model_validate, body=body, headers=_if_match(expected_version)
        )

    @staticmethod
    def patch_job(
        name: str, changes: dict[str, Any], expected_version: int | None = None
    ) -> Call[JobOut]:
        return Call(
            "PATCH", f"{API}/jobs/{_seg(name)}", JobOut.model_validate,
            body=changes, headers=_if_match(expected_version),
        )  # fmt: skip

    @staticmethod
    def delete_job(name: str, force: bool = False, history: bool = False) -> Call[None]:
        params = {"force": force, "history": history}
        return Call("DELETE", f"{API}/jobs/{_seg(name)}", _nothing, params=params)

    @staticmethod
    def set_paused(
        name: str, paused: bool, note: str | None = None, until: str | datetime | None = None
    ) -> Call[JobOut]:
        verb = "pause" if paused else "resume"
        body = _pause_body(note, until) if paused else None
        return Call("POST", f"{API}/jobs/{_seg(name)}/{verb}", JobOut.model_validate, body=body)

    @staticmethod
    def set_paused_matching(paused: bool, **body: Any) -> Call[ChangedJobs]:
        """Body keys: prefix, tag, pool, names, all; and for a pause, note and until."""
        if paused:
            body.update(_pause_body(body.pop("note", None), body.pop("until", None)) or {})
        verb = "pause" if paused else "resume"
        sent = {k: v for k, v in body.items() if v is not None}
        return Call("POST", f"{API}/jobs/{verb}", ChangedJobs.model_validate, body=sent)

    @staticmethod
    def next_fires(name: str, n: int = 10) -> Call[NextFires]:
        return Call(
            "GET", f"{API}/jobs/{_seg(name)}/next", NextFires.model_validate, params={"n": n}
        )

    @staticmethod
    def trigger(name: str, **body: Any) -> Call[RunOut]:
        body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in body.items()}
        body = {k: v for k, v in body.items() if v is not None}
        return Call("POST", f"{API}/jobs/{_seg(name)}/runs", RUN_OUT.validate_python, body=body)

    @staticmethod
    def trigger_many(name: str, count: int, **body: Any) -> Call[list[RunOut]]:
        made = Calls.trigger(name, count=count, **body)
        return Call("POST", made.path, _runs, body=made.body)

    @staticmethod
    def apply_jobs(
        specs: Sequence[JobSpec | dict[str, Any]], create_only: bool = False
    ) -> Call[list[tuple[str, str]]]:
        body = {"jobs": [_spec(s) for s in specs], "create_only": create_only}
        return Call("POST", f"{API}/jobs/apply", _applied, body=body)

    @staticmethod
    def list_runs(**query: Any) -> Call[RunPage]:
        return Call("GET", f"{API}/runs", RunPage.model_validate, params=query)

    @staticmethod
    def get_run(run_id: str) -> Call[RunOut]:
        return Call("GET", f"{API}/runs/{_seg(run_id)}", RUN_OUT.validate_python)

    @staticmethod
    def run_logs(run_id: str, **query: Any) -> Call[LogsOut]:
        return Call("GET", f"{API}/runs/{_seg(run_id)}/logs", LogsOut.model_validate, params=query)

    @staticmethod
    def run_action(run_id: str, action: str) -> Call[RunOut]:
        return Call("POST", f"{API}/runs/{_seg(run_id)}/{action}", RUN_OUT.validate_python)

    @staticmethod
    def job_flow(name: str) -> Call[FlowGraphOut]:
        return Call("GET", f"{API}/jobs/{_seg(name)}/flow", FlowGraphOut.model_validate)

    @staticmethod
    def list_flows(**query: Any) -> Call[FlowPage]:
        return Call("GET", f"{API}/flows", FlowPage.model_validate, params=query)

    @staticmethod
    def get_flow(flow_id: str) -> Call[FlowRunOut]:
        return Call("GET", f"{API}/flows/{_seg(flow_id)}", FlowRunOut.model_validate)

    @staticmethod
    def cancel_flow(flow_id: str) -> Call[FlowRunOut]:
        return Call("POST", f"{API}/flows/{_seg(flow_id)}/cancel", FlowRunOut.model_validate)

    @staticmethod
    def list_workers(**query: Any) -> Call[WorkerPage]:
        return Call("GET", f"{API}/workers", WorkerPage.model_validate, params=query)

    @staticmethod
    def list_events(**query: Any) -> Call[EventPage]:
        return Call("GET", f"{API}/events", EventPage.model_validate, params=query)

    @staticmethod
    def stats(window: int = 3600) -> Call[StatsOut]:
        return Call("GET", f"{API}/stats", StatsOut.model_validate, params={"window": window})

    @staticmethod
    def queue_stats() -> Call[QueuesOut]:
        return Call("GET", f"{API}/stats/queues", QueuesOut.model_validate)

    @staticmethod
    def lateness_stats(window: int = 3600) -> Call[LatenessOut]:
        params = {"window": window}
        return Call("GET", f"{API}/stats/lateness", LatenessOut.model_validate, params=params)

    @staticmethod
    def job_health(jobs: Sequence[str]) -> Call[JobHealthOut]:
        params = {"job": list(jobs)}
        return Call("GET", f"{API}/stats/jobs", JobHealthOut.model_validate, params=params)

    @staticmethod
    def list_tokens() -> Call[TokenPage]:
        return Call("GET", f"{API}/tokens", TokenPage.model_validate)

    @staticmethod
    def create_token(
        name: str, role: str, expires_at: datetime | None = None
    ) -> Call[TokenCreated]:
        body = {"name": name, "role": role, "expires_at": expires_at and expires_at.isoformat()}
        return Call("POST", f"{API}/tokens", TokenCreated.model_validate, body=body)

    @staticmethod
    def revoke_token(id_or_name: str) -> Call[None]:
        return Call("DELETE", f"{API}/tokens/{_seg(id_or_name)}", _nothing)

    @staticmethod
    def list_alerts(**query: Any) -> Call[AlertPage]:
        return Call("GET", f"{API}/alerts", AlertPage.model_validate, params=query)

    @staticmethod
    def get_alert(alert_id: str) -> Call[AlertOut]:
        return Call("GET", f"{API}/alerts/{_seg(alert_id)}", AlertOut.model_validate)

    @staticmethod
    def test_alert(channel: str) -> Call[AlertOut]:
        body = {"channel": channel}
        return Call("POST", f"{API}/alerts/test", AlertOut.model_validate, body=body)

    @staticmethod
    def list_silences() -> Call[SilencePage]:
        return Call("GET", f"{API}/silences", SilencePage.model_validate)

    @staticmethod
    def silence_job(
        name: str, until: datetime | None = None, duration: float | None = None, note: str = ""
    ) -> Call[SilenceOut]:
        body: dict[str, Any] = {"note": note}
        if until is not None:
            body["until"] = until.isoformat()
        if duration is not None:
            body["duration"] = duration
        return Call("PUT", f"{API}/jobs/{_seg(name)}/silence", SilenceOut.model_validate, body=body)

    @staticmethod
    def unsilence_job(name: str) -> Call[None]:
        return Call("DELETE", f"{API}/jobs/{_seg(name)}/silence", _nothing)

    @staticmethod
    def job_versions(name: str) -> Call[VersionPage]:
        return Call("GET", f"{API}/jobs/{_seg(name)}/versions", VersionPage.model_validate)

    @staticmethod
    def job_version(name: str, version: int, against: int | None = None) -> Call[VersionDetail]:
        path = f"{API}/jobs/{_seg(name)}/versions/{int(version)}"
        return Call("GET", path, VersionDetail.model_validate, params={"against": against})

    @staticmethod
    def rollback_job(name: str, to: int) -> Call[RollbackOut]:
        path = f"{API}/jobs/{_seg(name)}/rollback"
        return Call("POST", path, RollbackOut.model_validate, body={"to": to})

    @staticmethod
    def list_audit(**query: Any) -> Call[AuditPage]:
        return Call("GET", f"{API}/audit", AuditPage.model_validate, params=query)

    @staticmethod
    def prune(dry_run: bool = False, job: str | None = None) -> Call[PruneOut]:
        body = {"dry_run": dry_run, "job": job}
        return Call("POST", f"{API}/admin/prune", PruneOut.model_validate, body=body)

    @staticmethod
    def job_fires(
        name: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Call[FirePage]:
        params = {"since": _iso(since), "until": _iso(until), "limit": limit, "cursor": cursor}
        return Call("GET", f"{API}/jobs/{_seg(name)}/fires", FirePage.model_validate, params=params)

    @staticmethod
    def backfill_job(name: str, body: dict[str, Any]) -> Call[BackfillOut]:
        body = {key: _iso(value) if isinstance(value, datetime) else value
                for key, value in body.items()}  # fmt: skip
        path = f"{API}/jobs/{_seg(name)}/backfill"
        return Call("POST", path, BackfillOut.model_validate, body=body)

    @staticmethod
    def backfills(name: str, limit: int | None = None) -> Call[list[BackfillRecord]]:
        path = f"{API}/jobs/{_seg(name)}/backfills"
        return Call("GET", path, _backfills, params={"limit": limit})

    @staticmethod
    def stop_backfill(name: str, backfill_id: str) -> Call[BackfillRecord]:
        path = f"{API}/jobs/{_seg(name)}/backfills/{_seg(backfill_id)}/stop"
        return Call("POST", path, BackfillRecord.model_validate)

    @staticmethod
    def upcoming(hours: float = 24, limit: int = 200) -> Call[UpcomingOut]:
        params = {"hours": hours, "limit": limit}
        return Call("GET", f"{API}/upcoming", UpcomingOut.model_validate, params=params)

    @staticmethod
    def report_worker(**status: Any) -> Call[WorkerOut]:
        return Call("POST", "/v1/queue", WORKER_OUT.validate_python, body=status)


def read(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the server's error raised as its TSS exception."""
    if response.status_code >= 400:
        try:
            error = orjson.loads(response.content)["error"]
            code, message, where = error["code"], error["message"], error.get("field")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            code, message, where = "error", f"HTTP {response.status_code}: {response.text}", None
        cls = error_for_code(code)
        if cls is TSSError:
            cls = Unavailable if response.status_code >= 500 else TSSError
        raise cls(message, field=where)
    return call.parse(orjson.loads(response.content) if response.content else None)


def verify_of(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """``verify`` for httpx: a path is a CA bundle to trust (a self-signed server's cert)."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def unreachable(url: str, exc: httpx.TransportError) -> Unavailable:
    return Unavailable(f"cannot reach the TSS API at {url}: {exc or type(exc).__name__}")


def _iso(value: datetime | None) -> str | None:
    """A time as the API takes it (ISO 8601 with its zone); None stays None."""
    return None if value is None else value.isoformat()
