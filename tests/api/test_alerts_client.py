"""The alert calls of `tss.Client` and `tss.AsyncClient` against a live node with a channel
(the log): typed results, TSS errors with their field."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.live import ADMIN, LiveAPI, live_api
from tss import AsyncClient, Client, NotFound, ValidationError
from tss.api.schemas import AlertOut, AlertPage, SilenceOut


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    folder: Path = tmp_path_factory.mktemp("alerts-client")
    with live_api(folder, alerts={"channels": {"log": {"type": "log"}}}) as live:
        yield live


def test_sync_client_alerts_and_silences(node: LiveAPI) -> None:
    with Client(node.url, ADMIN) as tss:
        tss.create_job({"name": "ac-job", "type": "noop"})
        sent = tss.test_alert("log")
        assert isinstance(sent, AlertOut)
        assert (sent.channel, sent.kind, sent.state, sent.attempts) == (
            "log",
            "test",
            "delivered",
            1,
        )
        assert tss.get_alert(sent.id) == sent
        page = tss.list_alerts(channel="log", limit=10)
        assert isinstance(page, AlertPage) and sent.id in [a.id for a in page.items]
        assert tss.list_alerts(state="failed").items == []
        assert tss.list_alerts(job="ac-job").items == []
        with pytest.raises(NotFound) as no_channel:
            tss.test_alert("pager")
        assert no_channel.value.field == "channel" and "pager" in str(no_channel.value)
        with pytest.raises(NotFound):
            tss.get_alert("no-such-alert")

        made = tss.silence_job("ac-job", duration=600, note="deploy")
        assert isinstance(made, SilenceOut)
        assert (made.job, made.note) == ("ac-job", "deploy")
        assert made.until - made.created_at == timedelta(seconds=600)
        until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        assert tss.silence_job("ac-job", until=until).until == until
        assert [(s.job, s.until) for s in tss.list_silences().items] == [("ac-job", until)]
        with pytest.raises(ValidationError) as neither:
            tss.silence_job("ac-job")
        assert neither.value.field == "until"
        with pytest.raises(ValidationError) as negative:
            tss.silence_job("ac-job", duration=-1)
        assert negative.value.field == "duration"
        with pytest.raises(NotFound):
            tss.silence_job("ac-ghost", duration=60)
        tss.unsilence_job("ac-job")
        assert tss.list_silences().items == []
        with pytest.raises(NotFound) as twice:
            tss.unsilence_job("ac-job")
        assert twice.value.field == "name"


def test_async_client_alerts_and_silences(node: LiveAPI) -> None:
    async def body() -> None:
        async with AsyncClient(node.url, ADMIN) as tss:
            await tss.create_job({"name": "ac-async", "type": "noop"})
            sent = await tss.test_alert("log")
            assert sent.state == "delivered"
            assert (await tss.get_alert(sent.id)).id == sent.id
            assert sent.id in [a.id for a in (await tss.list_alerts(limit=500)).items]
            made = await tss.silence_job("ac-async", duration=60.5, note="n")
            assert made.job == "ac-async"
            assert "ac-async" in [s.job for s in (await tss.list_silences()).items]
            await tss.unsilence_job("ac-async")
            with pytest.raises(NotFound):
                await tss.unsilence_job("ac-async")

    asyncio.run(body())


def test_both_clients_have_the_same_calls() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in vars(cls) if not n.startswith("_")} - {"close", "aclose"}

    assert public(Client) == public(AsyncClient)
    assert {"list_alerts", "get_alert", "test_alert", "list_silences", "silence_job",
            "unsilence_job"} <= public(Client)  # fmt: skip
