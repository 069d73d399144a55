"""Which class serves a store or broker URL (tss.service.backends): one table per port."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tss.errors import ConfigError
from tss.service.backends import STORES, Backend, open_broker, open_store


def test_each_scheme_opens_its_backend() -> None:
    memory = open_store("memory://")
    assert type(memory).__name__ == "MemoryStore"
    assert type(open_store("sqlite:///:memory:")).__name__ == "SQLiteStore"
    assert type(open_broker("local://", memory)).__name__ == "LocalBroker"
    broker = open_broker("store://", memory)
    assert type(broker).__name__ == "StoreBroker"


@pytest.mark.parametrize(
    ("open_it", "url", "field", "supported"),
    [
        (lambda url: open_store(url), "mysql://u:pw@h/db", "store.url", "sqlite, postgresql"),
        (lambda url: open_broker(url, open_store("memory://")), "kafka://h", "broker.url", "amqp"),
    ],
    ids=["store", "broker"],
)
def test_an_unknown_scheme_names_the_key_and_what_is_supported(
    open_it: Callable[[str], object], url: str, field: str, supported: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        open_it(url)
    assert refused.value.field == field
    assert supported in str(refused.value)
    assert "pw" not in str(refused.value)  # the URL is shown with its password masked


def test_a_missing_driver_says_which_extra_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STORES, "nodriver", Backend("tss_no_such_driver", "X", extra="postgres"))
    with pytest.raises(ConfigError) as refused:
        open_store("nodriver://h/db")
    assert refused.value.field == "store.url"
    assert 'pip install "tss-scheduler[postgres]"' in str(refused.value)
