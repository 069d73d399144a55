"""``tss db prune`` as a user runs it: the real console script on a real SQLite store; and a
bad ``retention:`` key refused at the door, named."""

from __future__ import annotations

import time
from pathlib import Path

from .conftest import TEST_CONFIG, new_project

JOBS = """\
jobs:
  - name: brief
    type: noop
    retention: {max_age: 1s, keep_last: 1}
  - name: kept
    type: noop
"""


def test_db_prune_counts_then_deletes_by_the_jobs_own_policy(tmp_path: Path) -> None:
    project = new_project(tmp_path, files={"jobs.yaml": JOBS})
    project.ok("job", "apply", "-f", "jobs.yaml")
    for name in ("brief", "brief", "brief", "kept"):
        project.ok("execute-job", name)
    time.sleep(1.2)

    dry = project.json("db", "prune", "--dry-run", "--job", "brief")
    assert dry["dry_run"] is True
    assert dry["counts"]["runs"] == 2 and dry["runs_by_job"] == {"brief": 2}
    assert len(project.json("run", "list", "--job", "brief")) == 3  # nothing went

    shown = project.ok("db", "prune", "--dry-run")  # every job: kept is 90 days from going
    assert "would go" in shown.out and "brief" in shown.out and "kept" not in shown.out

    done = project.json("db", "prune")
    assert done["counts"]["runs"] == 2 and done["runs_by_job"] == {"brief": 2}
    assert len(project.json("run", "list", "--job", "brief")) == 1
    assert len(project.json("run", "list", "--job", "kept")) == 1
    assert project.json("db", "prune", "--dry-run")["counts"]["runs"] == 0

    missing = project.tss("db", "prune", "--job", "nope")
    assert missing.code != 0 and "no job named 'nope'" in missing.err


def test_a_bad_retention_key_is_refused_naming_it(tmp_path: Path) -> None:
    config = TEST_CONFIG + "retention: {max_age: soon, keep_last: 3}\n"
    project = new_project(tmp_path, config=config)
    result = project.tss("config", "check")
    assert result.code != 0
    assert "retention.max_age" in result.err and "soon" in result.err
    config = TEST_CONFIG + "retention: {keep_last: -1}\n"
    project = new_project(tmp_path / "two", config=config)
    result = project.tss("config", "check")
    assert result.code != 0 and "retention.keep_last" in result.err
