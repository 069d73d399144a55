"""``tss alert list|show|test|silence|unsilence|silences``: the real console script, on the
config's SQLite store, then through a live node's API (``--url``/``--token``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.live import ADMIN, LiveAPI, live_api
from tss import Client, ValidationError
from tss.cli.alerts import as_option

from .conftest import TEST_CONFIG, Project, Result, new_project

#: a channel that delivers (the log) and one that cannot (a webhook to a loopback address,
#: which TSS refuses without a connection)
CONFIG = (
    TEST_CONFIG
    + """\
alerts:
  channels:
    log: {type: log}
    hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
"""
)
JOBS = "- {name: nightly, type: noop}\n- {name: hourly, type: noop}\n"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = new_project(
        tmp_path_factory.mktemp("alerts"), config=CONFIG, files={"jobs.yaml": JOBS}
    )
    project.ok("job", "apply", "-f", "jobs.yaml")
    yield project
    project.close()


def one_error(result: Result) -> str:
    (line,) = result.err.splitlines()
    assert line.startswith("error: "), result
    return line


def test_a_test_alert_is_delivered_then_listed_and_shown(shared: Project) -> None:
    sent = shared.ok("alert", "test", "log")
    assert sent.out.startswith("delivered: test alert test:log:"), sent
    alert_id = sent.out.split()[3]

    listed = shared.json("alert", "list", "--channel", "log")
    (row,) = [a for a in listed if a["id"] == alert_id]
    assert (row["kind"], row["channel"], row["state"], row["attempts"]) == (
        "test", "log", "delivered", 1
    )  # fmt: skip
    assert row["sent_at"] is not None and row["error"] is None and row["job"] is None
    assert shared.json("alert", "show", alert_id) == row

    table = shared.ok("alert", "list").out
    line = next(x for x in table.splitlines() if alert_id in x)
    assert "test" in line and "log" in line and "delivered" in line
    assert "[TSS] test alert for log" in line

    shown = shared.ok("alert", "show", alert_id).out
    assert alert_id in shown and "delivered" in shown
    assert "If you read this, it works." in shown  # the whole text
    assert "details" in shown and '"by": "cli"' in shown


def test_newest_first_and_filters(shared: Project) -> None:
    first = shared.json("alert", "test", "log")["id"]
    second = shared.json("alert", "test", "log")["id"]
    ids = [a["id"] for a in shared.json("alert", "list", "--channel", "log")]
    assert ids.index(second) < ids.index(first)
    assert [a["id"] for a in shared.json("alert", "list", "--limit", "1")] == [second]
    assert shared.json("alert", "list", "--job", "nightly") == []
    assert all(a["state"] == "delivered" for a in shared.json("alert", "list", "-s", "delivered"))
    empty = shared.ok("alert", "list", "--job", "nightly").out
    assert "no alerts in" in empty and "tss.db" in empty


def test_a_channel_that_fails_exits_1_with_its_error(shared: Project) -> None:
    failed = shared.tss("alert", "test", "hook")
    assert failed.code == 1, failed
    assert failed.out == ""
    line = one_error(failed)
    assert "channel 'hook' did not deliver the test alert" in line and "loopback" in line

    as_json = shared.tss("alert", "test", "hook", "--json")
    assert as_json.code == 1, as_json
    alert = json.loads(as_json.out)
    assert alert["state"] == "failed" and "loopback" in alert["error"]
    assert alert["sent_at"] is None
    listed = shared.json("alert", "list", "--state", "failed")
    assert alert["id"] in [a["id"] for a in listed]
    shown = shared.ok("alert", "show", alert["id"]).out
    assert "failed" in shown and "loopback" in shown


def test_an_unknown_channel_exits_2_naming_it_and_the_channels(shared: Project) -> None:
    result = shared.tss("alert", "test", "pager")
    assert result.code == 2, result
    line = one_error(result)
    assert "'pager'" in line and "hook, log" in line


def test_silence_list_and_unsilence(shared: Project) -> None:
    said = shared.ok("alert", "silence", "nightly", "--for", "2h", "--note", "db [maintenance]")
    assert said.out.startswith("silenced nightly until "), said
    assert said.out.rstrip().endswith(": db [maintenance]")
    (silence,) = [s for s in shared.json("alert", "silences") if s["job"] == "nightly"]
    assert silence["note"] == "db [maintenance]" and silence["by"] == "cli"
    left = datetime.fromisoformat(silence["until"]) - datetime.now(UTC)
    assert timedelta(hours=1, minutes=58) < left <= timedelta(hours=2)
    table = shared.ok("alert", "silences").out
    line = next(x for x in table.splitlines() if "nightly" in x)
    assert "db [maintenance]" in line and "cli" in line and silence["until"][:10] in line

    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    shared.ok("alert", "silence", "nightly", "--until", until.isoformat())
    (again,) = [s for s in shared.json("alert", "silences") if s["job"] == "nightly"]
    assert datetime.fromisoformat(again["until"]) == until and again["note"] == ""

    assert shared.ok("alert", "unsilence", "nightly").out.strip() == "unsilenced nightly"
    assert "nightly" not in [s["job"] for s in shared.json("alert", "silences")]
    assert "no silenced jobs in" in shared.ok("alert", "silences").out
    twice = shared.tss("alert", "unsilence", "nightly")
    assert twice.code == 2, twice
    assert "job 'nightly' is not silenced" in one_error(twice)


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["nightly", "--for", "5x"], "error: --for: '5x' is not a duration"),
        (["nightly", "--for", "0"], "error: --for: '0' is not a positive duration"),
        (["nightly", "--for", "400d"], "error: --for: '400d' is longer than a year"),
        (["nightly", "--until", "tomorrow"], "error: --until: 'tomorrow' is not a time"),
        (["nightly", "--until", "2026-01-01T00:00"], "error: --until: '2026-01-01T00:00' has no"),
        (["nightly", "--until", "2001-01-01T00:00Z"], "error: --until: '2001-01-01T00:00Z' is not"),
        (
            ["nightly", "--until", "2999-01-01T00:00Z"],
            "error: --until: '2999-01-01T00:00Z' is more",
        ),
        (["nightly"], "error: give --for DURATION"),
        (["nightly", "--for", "1h", "--until", "2999-01-01T00:00Z"], "error: give --for"),
        (["nightly", "--for", "1h", "--note", "x" * 501], "error: --note: 501 characters"),
    ],
)
def test_bad_silences_exit_2_naming_the_option(
    shared: Project, args: list[str], starts: str
) -> None:
    result = shared.tss("alert", "silence", *args)
    assert result.code == 2, result
    assert result.out == ""
    assert one_error(result).startswith(starts)


def test_a_refusal_by_the_service_or_server_names_the_option() -> None:
    # what the service says when the store's clock disagrees with this one's
    late = as_option(ValidationError("until must be in the future, within a year", field="until"))
    assert (late.message, late.field) == ("--until: until must be in the future, within a year",
                                          "until")  # fmt: skip
    wire = as_option(ValidationError("duration: Input should be greater than 0", field="duration"))
    assert wire.message == "--for: Input should be greater than 0"
    other = ValidationError("name: bad", field="name")
    assert as_option(other) is other


@pytest.mark.parametrize(
    ("args", "has"),
    [
        (["silence", "ghost", "--for", "1h"], "no job named 'ghost'"),
        (["show", "no-such-alert"], "no-such-alert"),
        (["list", "--state", "lost"], "--state: unknown state 'lost' (one of pending, delivered"),
        (["test", "not a name"], "CHANNEL: 'not a name' is not a channel name"),
    ],
)
def test_other_bad_input_exits_2(shared: Project, args: list[str], has: str) -> None:
    result = shared.tss("alert", *args)
    assert result.code == 2, result
    assert has in one_error(result)


# -- remote ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    folder: Path = tmp_path_factory.mktemp("alerts-node")
    with live_api(folder, alerts={"channels": {"log": {"type": "log"}}}) as live:
        with Client(live.url, ADMIN) as tss:
            tss.create_job({"name": "remote-job", "type": "noop"})
        yield live


def test_the_commands_through_the_api(node: LiveAPI, tmp_path: Path) -> None:
    project = new_project(tmp_path)

    def remote(*args: str, token: str = ADMIN) -> Result:
        return project.tss("--url", node.url, "--token", token, "alert", *args)

    def as_json(*args: str) -> Any:
        result = remote(*args, "--json")
        assert result.code == 0, result
        return json.loads(result.out)

    sent = as_json("test", "log")
    assert sent["state"] == "delivered" and sent["channel"] == "log"
    assert sent["details"]["by"] != "cli"  # the server's actor: the token
    assert as_json("show", sent["id"]) == sent
    assert sent in as_json("list", "--channel", "log")
    assert sent["id"] in remote("list").out

    unknown = remote("test", "pager")
    assert unknown.code == 2, unknown
    assert "'pager'" in one_error(unknown) and node.url in unknown.err

    said = remote("silence", "remote-job", "--for", "30m", "--note", "deploy")
    assert said.code == 0 and said.out.startswith("silenced remote-job until "), said
    (silence,) = as_json("silences")
    assert (silence["job"], silence["note"]) == ("remote-job", "deploy")
    assert "remote-job" in remote("silences").out
    bad = remote("silence", "remote-job", "--for", "soon")
    assert bad.code == 2 and one_error(bad).startswith("error: --for: 'soon'"), bad
    assert remote("unsilence", "remote-job").code == 0
    assert as_json("silences") == []
    again = remote("unsilence", "remote-job")
    assert again.code == 2 and "not silenced" in again.err, again

    with Client(node.url, ADMIN) as tss:
        viewer = tss.create_token("alerts-viewer", "viewer").token
    refused = remote("test", "log", token=viewer)
    assert refused.code == 2, refused
    assert "operator" in one_error(refused)
    assert remote("list", token=viewer).code == 0


@pytest.mark.parametrize(
    "args",
    [("list",), ("silences",), ("test", "log"), ("silence", "nightly", "--for", "1h")],
    ids=" ".join,
)
def test_outside_the_project_they_create_no_store(tmp_path: Path, args: tuple[str, ...]) -> None:
    elsewhere = Project(tmp_path)
    result = elsewhere.tss("alert", *args)
    assert result.code == 2, result
    assert list(tmp_path.iterdir()) == [], "a database file was created"
    assert f"error: no store at sqlite:///{tmp_path.resolve() / 'tss.db'}" in result.err, result
