"""Python clients for the TSS REST API: :class:`Client` (blocking) and :class:`AsyncClient`.

::

    from tss import Client

    with Client("http://127.0.0.1:8000", token="tss_...") as tss:
        run = tss.trigger("nightly-report", params={"day": "2026-11-23"})
        print(tss.get_run(run.id).state)

Both clients share one request builder per endpoint (:class:`_Calls`) and one response
reader (:func:`_read`); each method is a single line that sends what the builder made.
Errors arrive as the TSS exceptions the server raised, with its ``code`` and ``field``
(:func:`tss.errors.error_for_code`); an unreachable server raises :class:`Unavailable`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx
import orjson

from tss.api.schemas import (
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
    QueuesOut,
    RunOut,
    RunPage,
    StatsOut,
    TokenCreated,
    TokenPage,
    WorkerOut,
    WorkerPage,
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


def _seg(value: str) -> str:
    return quote(value, safe="")


def _spec(spec: JobSpec | dict[str, Any]) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_unset=True) if isinstance(spec, JobSpec) else spec


def _if_match(version: int | None) -> dict[str, str]:
    return {"If-Match": f'"{version}"'} if version is not None else {}


class _Calls:
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
    def delete_job(name: str, force: bool = False) -> Call[None]:
        return Call("DELETE", f"{API}/jobs/{_seg(name)}", _nothing, params={"force": force})

    @staticmethod
    def set_paused(name: str, paused: bool) -> Call[JobOut]:
        verb = "pause" if paused else "resume"
        return Call("POST", f"{API}/jobs/{_seg(name)}/{verb}", JobOut.model_validate)

    @staticmethod
    def next_fires(name: str, n: int = 10) -> Call[NextFires]:
        return Call(
            "GET", f"{API}/jobs/{_seg(name)}/next", NextFires.model_validate, params={"n": n}
        )

    @staticmethod
    def trigger(name: str, **body: Any) -> Call[RunOut]:
        body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in body.items()}
        body = {k: v for k, v in body.items() if v is not None}
        return Call("POST", f"{API}/jobs/{_seg(name)}/runs", RunOut.model_validate, body=body)

    @staticmethod
    def list_runs(**query: Any) -> Call[RunPage]:
        return Call("GET", f"{API}/runs", RunPage.model_validate, params=query)

    @staticmethod
    def get_run(run_id: str) -> Call[RunOut]:
        return Call("GET", f"{API}/runs/{_seg(run_id)}", RunOut.model_validate)

    @staticmethod
    def run_logs(run_id: str, **query: Any) -> Call[LogsOut]:
        return Call("GET", f"{API}/runs/{_seg(run_id)}/logs", LogsOut.model_validate, params=query)

    @staticmethod
    def run_action(run_id: str, action: str) -> Call[RunOut]:
        return Call("POST", f"{API}/runs/{_seg(run_id)}/{action}", RunOut.model_validate)

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
    def report_worker(**status: Any) -> Call[WorkerOut]:
        return Call("POST", "/v1/queue", WorkerOut.model_validate, body=status)


def _read(call: Call[T], response: httpx.Response) -> T:
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


def _verify(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """``verify`` for httpx: a path is a CA bundle to trust (a self-signed server's cert)."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _unreachable(url: str, exc: httpx.TransportError) -> Unavailable:
    return Unavailable(f"cannot reach the TSS API at {url}: {exc or type(exc).__name__}")


class AsyncClient:
    """The TSS REST API from asyncio code. Use as ``async with AsyncClient(url, token)``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=_headers(token), timeout=timeout, verify=_verify(verify),
            transport=transport,
        )  # fmt: skip

    async def send(self, call: Call[T]) -> T:
        """Send one built request and read its answer."""
        try:
            response = await self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc
        return _read(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # jobs
    async def list_jobs(self, **query: Any) -> JobPage:
        """Query keys as ``GET /api/v1/jobs``: prefix, tag, pool, paused, last_state, sort,
        limit, cursor, page."""
        return await self.send(_Calls.list_jobs(**query))

    async def get_job(self, name: str) -> JobOut:
        return await self.send(_Calls.get_job(name))

    async def create_job(self, spec: JobSpec | dict[str, Any]) -> JobOut:
        return await self.send(_Calls.create_job(spec))

    async def replace_job(
        self, spec: JobSpec | dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return await self.send(_Calls.replace_job(spec, expected_version))

    async def patch_job(
        self, name: str, changes: dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return await self.send(_Calls.patch_job(name, changes, expected_version))

    async def delete_job(self, name: str, *, force: bool = False) -> None:
        await self.send(_Calls.delete_job(name, force))

    async def pause_job(self, name: str) -> JobOut:
        return await self.send(_Calls.set_paused(name, True))

    async def resume_job(self, name: str) -> JobOut:
        return await self.send(_Calls.set_paused(name, False))

    async def next_fires(self, name: str, n: int = 10) -> list[datetime]:
        return (await self.send(_Calls.next_fires(name, n))).times

    async def trigger(self, name: str, **body: Any) -> RunOut:
        """Body keys: params, run_at, priority, idempotency_key, with_descendants."""
        return await self.send(_Calls.trigger(name, **body))

    # flows
    async def job_flow(self, name: str) -> FlowGraphOut:
        """The flow a run of ``name`` starts: nodes and edges with their conditions."""
        return await self.send(_Calls.job_flow(name))

    async def list_flows(self, **query: Any) -> FlowPage:
        """Flow runs, newest first, with their states. Query keys: limit, cursor."""
        return await self.send(_Calls.list_flows(**query))

    async def get_flow(self, flow_id: str) -> FlowRunOut:
        """A flow run's runs and states (its id is the id of the run that started it)."""
        return await self.send(_Calls.get_flow(flow_id))

    async def cancel_flow(self, flow_id: str) -> FlowRunOut:
        """Cancel every run of a flow that has not ended."""
        return await self.send(_Calls.cancel_flow(flow_id))

    # runs
    async def list_runs(self, **query: Any) -> RunPage:
        """Query keys: job, state (a list), since, until, limit, cursor, page."""
        return await self.send(_Calls.list_runs(**query))

    async def get_run(self, run_id: str) -> RunOut:
        return await self.send(_Calls.get_run(run_id))

    async def run_logs(self, run_id: str, **query: Any) -> LogsOut:
        """Query keys: attempt, stdout_offset, stderr_offset."""
        return await self.send(_Calls.run_logs(run_id, **query))

    async def cancel_run(self, run_id: str) -> RunOut:
        return await self.send(_Calls.run_action(run_id, "cancel"))

    async def retry_run(self, run_id: str) -> RunOut:
        return await self.send(_Calls.run_action(run_id, "retry"))

    # workers, events, stats, tokens
    async def list_workers(self, **query: Any) -> WorkerPage:
        return await self.send(_Calls.list_workers(**query))

    async def report_worker(self, **status: Any) -> WorkerOut:
        return await self.send(_Calls.report_worker(**status))

    async def list_events(self, **query: Any) -> EventPage:
        return await self.send(_Calls.list_events(**query))

    async def stats(self, window: int = 3600) -> StatsOut:
        return await self.send(_Calls.stats(window))

    async def queue_stats(self) -> QueuesOut:
        """Queued runs per pool, with the workers up that serve each."""
        return await self.send(_Calls.queue_stats())

    async def lateness_stats(self, window: int = 3600) -> LatenessOut:
        """How late scheduled runs started over the last ``window`` seconds."""
        return await self.send(_Calls.lateness_stats(window))

    async def job_health(self, jobs: Sequence[str]) -> JobHealthOut:
        """Recent success rate and durations of up to 200 jobs."""
        return await self.send(_Calls.job_health(jobs))

    async def list_tokens(self) -> TokenPage:
        return await self.send(_Calls.list_tokens())

    async def create_token(
        self, name: str, role: str, *, expires_at: datetime | None = None
    ) -> TokenCreated:
        return await self.send(_Calls.create_token(name, role, expires_at))

    async def revoke_token(self, id_or_name: str) -> None:
        await self.send(_Calls.revoke_token(id_or_name))


class Client:
    """The TSS REST API from blocking code. Use as ``with Client(url, token)``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers=_headers(token), timeout=timeout, verify=_verify(verify),
            transport=transport,
        )  # fmt: skip

    def send(self, call: Call[T]) -> T:
        """Send one built request and read its answer."""
        try:
            response = self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc
        return _read(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # jobs
    def list_jobs(self, **query: Any) -> JobPage:
        """Query keys as ``GET /api/v1/jobs``: prefix, tag, pool, paused, last_state, sort,
        limit, cursor, page."""
        return self.send(_Calls.list_jobs(**query))

    def get_job(self, name: str) -> JobOut:
        return self.send(_Calls.get_job(name))

    def create_job(self, spec: JobSpec | dict[str, Any]) -> JobOut:
        return self.send(_Calls.create_job(spec))

    def replace_job(
        self, spec: JobSpec | dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return self.send(_Calls.replace_job(spec, expected_version))

    def patch_job(
        self, name: str, changes: dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return self.send(_Calls.patch_job(name, changes, expected_version))

    def delete_job(self, name: str, *, force: bool = False) -> None:
        self.send(_Calls.delete_job(name, force))

    def pause_job(self, name: str) -> JobOut:
        return self.send(_Calls.set_paused(name, True))

    def resume_job(self, name: str) -> JobOut:
        return self.send(_Calls.set_paused(name, False))

    def next_fires(self, name: str, n: int = 10) -> list[datetime]:
        return self.send(_Calls.next_fires(name, n)).times

    def trigger(self, name: str, **body: Any) -> RunOut:
        """Body keys: params, run_at, priority, idempotency_key, with_descendants."""
        return self.send(_Calls.trigger(name, **body))

    # flows
    def job_flow(self, name: str) -> FlowGraphOut:
        """The flow a run of ``name`` starts: nodes and edges with their conditions."""
        return self.send(_Calls.job_flow(name))

    def list_flows(self, **query: Any) -> FlowPage:
        """Flow runs, newest first, with their states. Query keys: limit, cursor."""
        return self.send(_Calls.list_flows(**query))

    def get_flow(self, flow_id: str) -> FlowRunOut:
        """A flow run's runs and states (its id is the id of the run that started it)."""
        return self.send(_Calls.get_flow(flow_id))

    def cancel_flow(self, flow_id: str) -> FlowRunOut:
        """Cancel every run of a flow that has not ended."""
        return self.send(_Calls.cancel_flow(flow_id))

    # runs
    def list_runs(self, **query: Any) -> RunPage:
        """Query keys: job, state (a list), since, until, limit, cursor, page."""
        return self.send(_Calls.list_runs(**query))

    def get_run(self, run_id: str) -> RunOut:
        return self.send(_Calls.get_run(run_id))

    def run_logs(self, run_id: str, **query: Any) -> LogsOut:
        """Query keys: attempt, stdout_offset, stderr_offset."""
        return self.send(_Calls.run_logs(run_id, **query))

    def cancel_run(self, run_id: str) -> RunOut:
        return self.send(_Calls.run_action(run_id, "cancel"))

    def retry_run(self, run_id: str) -> RunOut:
        return self.send(_Calls.run_action(run_id, "retry"))

    # workers, events, stats, tokens
    def list_workers(self, **query: Any) -> WorkerPage:
        return self.send(_Calls.list_workers(**query))

    def report_worker(self, **status: Any) -> WorkerOut:
        return self.send(_Calls.report_worker(**status))

    def list_events(self, **query: Any) -> EventPage:
        return self.send(_Calls.list_events(**query))

    def stats(self, window: int = 3600) -> StatsOut:
        return self.send(_Calls.stats(window))

    def queue_stats(self) -> QueuesOut:
        """Queued runs per pool, with the workers up that serve each."""
        return self.send(_Calls.queue_stats())

    def lateness_stats(self, window: int = 3600) -> LatenessOut:
        """How late scheduled runs started over the last ``window`` seconds."""
        return self.send(_Calls.lateness_stats(window))

    def job_health(self, jobs: Sequence[str]) -> JobHealthOut:
        """Recent success rate and durations of up to 200 jobs."""
        return self.send(_Calls.job_health(jobs))

    def list_tokens(self) -> TokenPage:
        return self.send(_Calls.list_tokens())

    def create_token(
        self, name: str, role: str, *, expires_at: datetime | None = None
    ) -> TokenCreated:
        return self.send(_Calls.create_token(name, role, expires_at))

    def revoke_token(self, id_or_name: str) -> None:
        self.send(_Calls.revoke_token(id_or_name))


__all__ = ["AsyncClient", "Call", "Client"]
