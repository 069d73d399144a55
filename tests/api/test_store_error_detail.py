"""`/readyz` answers without a token, so what it says about a store that is down must not
tell a stranger where the store is: the reason in full only to a caller on the server's
own host (not through a proxy) or one presenting the admin token; others read that it is
unreachable. The real API app, its store really unreachable."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.chaos.tcp_proxy import free_port
from tss.api.server import create_api
from tss.config import Settings
from tss.errors import StoreError
from tss.service import TSSApp

ADMIN = "adm-" + "k" * 40
STRANGER = ("203.0.113.9", 40000)
HERE = ("127.0.0.1", 40000)


@pytest.mark.parametrize(
    ("client", "headers", "full"),
    [
        (STRANGER, {}, False),
        (HERE, {}, True),
        (HERE, {"X-Forwarded-For": STRANGER[0]}, False),  # a proxy on the host
        (STRANGER, {"Authorization": f"Bearer {ADMIN}"}, True),
        (STRANGER, {"Authorization": "Bearer wrong"}, False),
    ],
    ids=["stranger", "on the host", "through a proxy", "admin token", "wrong token"],
)
def test_the_reason_in_full_only_to_the_host_or_the_admin(
    client: tuple[str, int], headers: dict[str, str], full: bool
) -> None:
    url = f"postgresql://tss:pw@127.0.0.1:{free_port()}/payroll_db"
    settings = Settings.model_validate(
        {"store": {"url": url}, "broker": {"url": "store://"}, "api": {"admin_token": ADMIN}}
    )

    async def body() -> httpx.Response:
        tss = TSSApp(settings)
        try:
            await tss.start()
        except StoreError as exc:  # what the serving command keeps while it retries
            tss.not_ready = exc
        else:
            raise AssertionError("the store was reachable")
        try:
            transport = httpx.ASGITransport(app=create_api(tss), client=client)
            async with httpx.AsyncClient(transport=transport, base_url="http://tss") as http:
                return await http.get("/readyz", headers=headers)
        finally:
            await tss.close()

    answer = asyncio.run(body())
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["store"] != "ok"
    assert ("payroll_db" in answer.text) is full, answer.text
    assert ("127.0.0.1" in answer.text) is full, answer.text
    if not full:
        assert checks["store"].startswith("unreachable")
        assert "payroll_db" not in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("token", "full"),
    [("tss_0123456789abcdef_guess", False), (ADMIN, True)],
    ids=["guess", "admin"],
)
def test_a_store_that_fails_mid_request_is_not_described_to_a_stranger(
    pytestconfig: pytest.Config, token: str, full: bool
) -> None:
    """The store goes away while the API serves: a request with a made-up token (checked
    against the store, which fails) reads that the store failed, not where it is."""
    from tests.chaos.tcp_proxy import proxy_for
    from tests.pg_databases import PgDatabases

    databases = PgDatabases.shared(pytestconfig)
    real = databases.create()
    try:
        with proxy_for(real) as proxy:
            url = proxy.through(real)
            settings = Settings.model_validate(
                {
                    "store": {"url": url},
                    "broker": {"url": "store://"},
                    "api": {"admin_token": ADMIN},
                }
            )

            async def body() -> httpx.Response:
                tss = TSSApp(settings)
                await tss.start()
                try:
                    proxy.down()
                    transport = httpx.ASGITransport(app=create_api(tss), client=STRANGER)
                    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                        return await http.get(
                            "/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}
                        )
                finally:
                    await tss.close()

            answer = asyncio.run(body())
    finally:
        databases.drop(real)
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "store_error"
    assert (str(proxy.port) in error["message"]) is full, error
    if not full:
        assert error["message"].startswith("the store failed or cannot be reached")
