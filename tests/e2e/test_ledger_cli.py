"""``tss job fires|backfill|backfills|upcoming`` as a user runs them, through a running server
(``--url``) and on the store (``--config``): the same ledger either way, the DST rule in
words, a dry run that lists what the backfill makes, a second backfill that makes nothing,
a backfill listed and stopped, roles, and bad times refused naming the option."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import Remote, remote_server

pytestmark = pytest.mark.slow

CONFIG = """\
store: {url: "sqlite:///tss.db"}
broker: {url: "local://"}
server: {port: 0}
scheduler: {max_sleep: 0.2s}
logging: {level: WARNING}
jobs:
  - name: daily
    type: noop
    pool: nobody
    schedule: {cron: "30 2 * * *", timezone: Europe/Paris}
"""
SPRING = ["--from", "2026-03-27T00:00:00Z", "--to", "2026-03-31T00:00:00Z"]


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with remote_server(tmp_path_factory.mktemp("ledger"), CONFIG, "l") as made:
        yield made


def test_backfill_over_a_dst_gap_then_read_the_ledger(remote: Remote) -> None:
    dry = remote.json("job", "backfill", "daily", *SPRING, "--dry-run")
    wanted = ["2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z",
              "2026-03-30T00:30:00Z"]  # fmt: skip
    assert [f.replace("+00:00", "Z") for f in dry["fires"]] == wanted
    refused = remote.tss("job", "backfill", "daily", *SPRING, token=remote.viewer)
    assert refused.code != 0 and "admin" in refused.err
    made = remote.json("job", "backfill", "daily", *SPRING)
    assert made["created"] == 4 and made["count"] == 4
    again = remote.json("job", "backfill", "daily", *SPRING)
    assert again["count"] == 0 and again["created"] == 0
    window = ["--since", "2026-03-27T00:00:00Z", "--until", "2026-03-31T00:00:00Z"]
    over_api = remote.json("job", "fires", "daily", *window, token=remote.viewer)
    on_store = remote.project.json("--config", "config.yaml", "job", "fires", "daily", *window)
    assert [f["status"] for f in over_api["fires"]] == ["backfilled"] * 4
    assert [f["status"] for f in on_store["fires"]] == ["backfilled"] * 4
    assert [f["run_id"] for f in on_store["fires"]] == [f["run_id"] for f in over_api["fires"]]
    table = remote.tss("job", "fires", "daily", *window, token=remote.viewer)
    assert table.code == 0, str(table)
    text = " ".join(table.out.split())
    assert "02:30 does not exist on 2026-03-29 in Europe/Paris; fired at 03:00" in text
    assert "time (Europe/Paris)" in text and "4 backfilled" in text


def test_fires_page_by_cursor_over_the_api_and_the_store(remote: Remote) -> None:
    # The next ten days (a job's fires before it was made are not listed): ten fires.
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    since, until = start.isoformat(), (start + timedelta(days=10)).isoformat()
    window = ["job", "fires", "daily", "--since", since, "--until", until, "--limit", "4"]
    for read in (remote.json, remote.local):
        seen: list[str] = []
        cursor: list[str] = []
        for _ in range(5):
            page = read(*window, *cursor)
            seen += [f["at"] for f in page["fires"]]
            if not page["next_cursor"]:
                break
            cursor = ["--cursor", page["next_cursor"]]
        assert len(seen) == 10 and len(set(seen)) == 10, seen  # one a day, none twice
    table = remote.tss(*window, token=remote.viewer)
    text = " ".join(table.out.split())
    again = f"--since {start:%Y-%m-%dT%H:%M:%S}"  # the same window, whatever the offset's form
    assert table.code == 0 and "--cursor" in text and again in text, text


def test_upcoming_shows_the_busiest_minutes(remote: Remote) -> None:
    found = remote.json("job", "upcoming", "--hours", "48", token=remote.viewer)
    assert found["total"] >= 1 and found["peaks"][0]["count"] == 1
    table = remote.tss("job", "upcoming", "--hours", "48", token=remote.viewer)
    assert table.code == 0 and "busiest minutes" in table.out and "daily" in table.out


def test_bad_times_are_refused_naming_the_option(remote: Remote) -> None:
    early = remote.tss("job", "backfill", "daily", "--from", "now", "--to", "-1d")
    assert early.code == 2 and "from" in early.err
    future = remote.tss("job", "backfill", "daily", "--from", "-1d", "--to", "+1d")
    assert future.code == 2 and "to must not be in the future" in " ".join(future.err.split())
    vague = remote.tss("job", "fires", "daily", "--since", "yesterday")
    assert vague.code == 2 and "--since" in vague.err


def test_list_and_stop_a_backfill(remote: Remote) -> None:
    """A backfill one fire at a time, listed by a viewer, stopped over the API by an
    operator's betters (a viewer may not), then another stopped on the store: a stopped
    backfill cannot be stopped again, and an id not the job's is refused naming it."""
    window = ["--from", "2026-02-01T00:00:00Z", "--to", "2026-02-05T00:00:00Z"]
    made = remote.json("job", "backfill", "daily", *window, "--max-active", "1")
    backfill_id = made["backfill"]["id"]
    assert made["created"] == 1 and made["backfill"]["state"] == "active"
    listed = remote.json("job", "backfills", "daily", token=remote.viewer)
    [mine] = [b for b in listed if b["id"] == backfill_id]
    assert (mine["state"], mine["made"], mine["count"], mine["max_active"]) == ("active", 1, 4, 1)
    table = remote.tss("job", "backfills", "daily", token=remote.viewer)
    assert table.code == 0, str(table)
    text = " ".join(table.out.split())
    assert backfill_id[:8] in text and "1/4" in text and "active" in text
    refused = remote.tss("job", "backfill", "daily", "--stop", backfill_id, token=remote.viewer)
    assert refused.code != 0 and "operator" in refused.err
    stopped = remote.json("job", "backfill", "daily", "--stop", backfill_id)
    assert (stopped["id"], stopped["state"], stopped["made"]) == (backfill_id, "stopped", 1)
    again = remote.project.tss("--config", "config.yaml", "job", "backfill", "daily",
                               "--stop", backfill_id)  # fmt: skip
    assert again.code != 0 and "stopped already" in " ".join(again.err.split())
    on_store = remote.local("job", "backfills", "daily")
    assert [b["state"] for b in on_store if b["id"] == backfill_id] == ["stopped"]

    # on the store: made there, stopped there, the words of a plain run
    other = ["--from", "2026-02-10T00:00:00Z", "--to", "2026-02-13T00:00:00Z"]
    second = remote.local("job", "backfill", "daily", *other, "--max-active", "1")
    said = remote.project.ok("--config", "config.yaml", "job", "backfill", "daily", "--stop",
                             second["backfill"]["id"])  # fmt: skip
    assert "stopped: 1 of 3 fire(s) made" in " ".join(said.out.split())
    over_api = remote.json("job", "backfills", "daily", token=remote.viewer)
    assert {b["id"]: b["state"] for b in over_api}[second["backfill"]["id"]] == "stopped"
    ledger = remote.json("job", "fires", "daily", "--since", "2026-02-10T00:00:00Z",
                         "--until", "2026-02-13T00:00:00Z", token=remote.viewer)  # fmt: skip
    # these fires are before the job existed: once stopped, only the one made is listed
    assert [f["status"] for f in ledger["fires"]] == ["backfilled"]


def test_stop_refusals_name_what_is_wrong(remote: Remote) -> None:
    unknown = remote.tss("job", "backfill", "daily", "--stop", "0" * 32)
    assert unknown.code != 0 and "has no backfill" in unknown.err
    bare = remote.tss("job", "backfill", "daily")
    assert bare.code == 2 and "--from is needed" in " ".join(bare.err.split())
    mixed = remote.tss("job", "backfill", "daily", "--stop", "abc", "--from", "-1d")
    assert mixed.code == 2 and "--stop takes no --from" in " ".join(mixed.err.split())
    nobody = remote.tss("job", "backfills", "nobody-here", token=remote.viewer)
    assert nobody.code != 0 and "nobody-here" in nobody.err
