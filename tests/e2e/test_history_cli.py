"""``tss job history``, ``tss job rollback`` and ``tss audit``: the real console script on
the config's SQLite store (actor ``cli``, ``config`` for a server's config jobs), then
through a live node's API with ``--url``/``--token``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.live import ADMIN, LiveAPI, live_api
from tss import Client

from .conftest import Project, Result, new_project

JOBS = "- {name: nightly, type: noop, priority: 1, schedule: '0 2 * * *'}\n"
CHANGED = "- {name: nightly, type: noop, priority: 6, schedule: '0 3 * * *'}\n"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = new_project(
        tmp_path_factory.mktemp("history"), files={"jobs.yaml": JOBS, "changed.yaml": CHANGED}
    )
    project.ok("job", "apply", "-f", "jobs.yaml")
    project.ok("job", "apply", "-f", "changed.yaml")
    yield project
    project.close()


def test_history_lists_versions_and_shows_a_diff(shared: Project) -> None:
    versions = shared.json("job", "history", "nightly")
    assert [(v["version"], v["change"], v["actor"]) for v in versions[-2:]] == [
        (2, "updated", "cli"),
        (1, "created", "cli"),
    ]
    table = shared.ok("job", "history", "nightly").out
    assert "updated" in table and "created" in table and "cli" in table
    diff = shared.json("job", "history", "nightly", "--diff", "2")
    assert diff["against"] == 1
    assert {c["path"]: (c["old"], c["new"]) for c in diff["changes"]} == {
        "priority": (1, 6),
        "schedule.cron": ("0 2 * * *", "0 3 * * *"),
    }
    shown = shared.ok("job", "history", "nightly", "--diff", "2").out
    assert "schedule.cron" in shown and "- 0 2 * * *" in shown and "+ 0 3 * * *" in shown
    back = shared.json("job", "history", "nightly", "--diff", "1", "--against", "2")
    assert {c["path"]: c["new"] for c in back["changes"]}["priority"] == 1


def test_rollback_makes_a_new_version_and_is_audited(shared: Project) -> None:
    said = shared.ok("job", "rollback", "nightly", "--to", "1")
    assert "rolled back to version 1" in said.out, said
    job = shared.json("job", "show", "nightly")
    assert job["spec"]["priority"] == 1 and job["spec"]["schedule"]["cron"] == "0 2 * * *"
    newest = shared.json("job", "history", "nightly")[0]
    assert (newest["change"], newest["actor"]) == ("rolled_back", "cli")
    again = shared.json("job", "rollback", "nightly", "--to", "1")
    assert again["changed"] is False
    entries = shared.json("audit", "--target", "nightly")
    assert [(e["actor"], e["action"]) for e in entries][:1] == [("cli", "job.rollback")]
    assert {"job.create", "job.update", "job.rollback"} <= {e["action"] for e in entries}
    assert shared.json("audit", "--action", "job.create", "--since", "1h")[0]["target"] == "nightly"
    assert shared.json("audit", "--until", "2000-01-01T00:00:00Z") == []
    assert "job.rollback" in shared.ok("audit", "--limit", "5").out


@pytest.mark.parametrize(
    ("args", "has"),
    [
        (["job", "rollback", "nightly", "--to", "99"], "version 99"),
        (["job", "history", "ghost"], "ghost"),
        (["job", "history", "nightly", "--diff", "42"], "version 42"),
        (["job", "history", "nightly", "--against", "1"], "--diff"),
        (["audit", "--action", "job.explode"], "--action"),
        (["audit", "--since", "yesterday"], "--since"),
    ],
)
def test_bad_input_exits_2_with_one_error(shared: Project, args: list[str], has: str) -> None:
    result = shared.tss(*args)
    assert result.code == 2, result
    (line,) = result.err.splitlines()
    assert line.startswith("error: ") and has in line, result


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    folder: Path = tmp_path_factory.mktemp("history-node")
    with live_api(folder) as live:
        with Client(live.url, ADMIN) as tss:
            tss.create_job({"name": "remote-job", "type": "noop", "priority": 2})
            tss.patch_job("remote-job", {"priority": 8})
        yield live


def test_the_commands_through_the_api(node: LiveAPI, tmp_path: Path) -> None:
    project = new_project(tmp_path)

    def remote(*args: str) -> Result:
        return project.tss("--url", node.url, "--token", ADMIN, *args)

    def as_json(*args: str) -> Any:
        result = remote(*args, "--json")
        assert result.code == 0, result
        return json.loads(result.out)

    versions = as_json("job", "history", "remote-job")
    assert [v["change"] for v in versions] == ["updated", "created"]
    diff = as_json("job", "history", "remote-job", "--diff", "2")
    assert [(c["path"], c["old"], c["new"]) for c in diff["changes"]] == [("priority", 2, 8)]
    done = as_json("job", "rollback", "remote-job", "--to", "1")
    assert (done["changed"], done["version"]) == (True, 3)
    entries = as_json("audit", "--target", "remote-job")
    assert entries[0]["action"] == "job.rollback" and entries[0]["actor"] != "cli"
    missing = remote("job", "rollback", "remote-job", "--to", "50")
    assert missing.code == 2 and "version 50" in missing.err, missing
