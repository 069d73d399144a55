"""The ``tss`` command as a user runs it: the real console script on a real SQLite store.

Most tests share one project per module (and per xdist worker); each uses its own jobs, so
they pass in any order. Tests that start a server get a project of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from .conftest import TEST_CONFIG, Project, new_project

REPO = Path(__file__).resolve().parents[2]

TASKS = """
def greet(who="world"):
    print(f"hello, {who}")
    return {"greeted": who}


def explode():
    print("about to fail")
    raise RuntimeError("the reactor melted")
"""

JOBS = """\
jobs:
  - name: every-five
    type: noop
    schedule: {cron: "*/5 * * * *", timezone: Europe/Paris}
    tags: [demo]
  - name: pausable
    type: noop
    schedule: {every: 1h}
  - name: doomed
    type: noop
  - name: forgotten
    type: noop
  - name: greet
    type: python
    params: {function: "e2e_tasks:greet", kwargs: {who: world}}
    overridable: [kwargs.who]
  - name: explode
    type: python
    params: {function: "e2e_tasks:explode"}
    retries: {max: 1, delay: 0}
"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """One project for the module, with JOBS applied."""
    project = new_project(
        tmp_path_factory.mktemp("cli"), files={"jobs/e2e_tasks.py": TASKS, "jobs.yaml": JOBS}
    )
    project.ok("job", "apply", "-f", "jobs.yaml")
    yield project
    project.close()


def names(jobs: list[dict[str, object]]) -> set[object]:
    return {j["name"] for j in jobs}


def test_version_and_usage_errors(shared: Project) -> None:
    assert shared.ok("--version").out.startswith("tss ")
    result = shared.tss("job", "show")
    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("error: "), result
    assert "Missing argument" in result.err


def test_apply_says_created_unchanged_updated(shared: Project) -> None:
    shared.write("apply-me.yaml", "- {name: apply-me, type: noop, schedule: {every: 5m}}\n")
    assert shared.ok("job", "apply", "-f", "apply-me.yaml").out.split() == ["created", "apply-me"]
    assert shared.ok("job", "apply", "-f", "apply-me.yaml").out.split() == ["unchanged", "apply-me"]
    shared.write("apply-me.yaml", "- {name: apply-me, type: noop, schedule: {every: 10m}}\n")
    assert shared.ok("job", "apply", "-f", "apply-me.yaml").out.split() == ["updated", "apply-me"]


def test_list_show_next(shared: Project) -> None:
    jobs = shared.json("job", "list")
    assert {"every-five", "pausable", "greet", "explode"} <= names(jobs)
    assert names(shared.json("job", "list", "--tag", "demo")) == {"every-five"}
    assert names(shared.json("job", "list", "--prefix", "paus")) == {"pausable"}
    table = shared.ok("job", "list").out
    assert "every-five" in table and "every 5 minutes" in table

    shown = shared.json("job", "show", "every-five")
    assert shown["spec"]["schedule"]["cron"] == "*/5 * * * *"
    assert shown["spec"]["tags"] == ["demo"]
    fires = [datetime.fromisoformat(f) for f in shown["next_fires"]]
    assert len(fires) == 5
    assert all(b - a == timedelta(minutes=5) for a, b in pairwise(fires))
    assert shown["runs"] == []
    text = shared.ok("job", "show", "every-five").out
    assert "cron: '*/5 * * * *'" in text and "next fire times" in text

    upcoming = shared.json("job", "next", "every-five", "-n", "3")
    assert upcoming["timezone"] == "Europe/Paris"
    assert len(upcoming["fires"]) == 3
    first = upcoming["fires"][0]
    assert datetime.fromisoformat(first["utc"]) == datetime.fromisoformat(first["local"])
    assert first["local"][-6:] in ("+01:00", "+02:00")


def test_pause_and_resume(shared: Project) -> None:
    shared.ok("job", "pause", "pausable")
    assert "pausable" in names(shared.json("job", "list", "--paused"))
    assert "pausable" not in names(shared.json("job", "list", "--active"))
    assert "resumed pausable" in shared.ok("job", "resume", "pausable").out
    assert shared.json("job", "show", "pausable")["spec"]["paused"] is False


def test_delete(shared: Project) -> None:
    assert shared.ok("job", "delete", "doomed").out.strip() == "deleted doomed"
    result = shared.tss("job", "show", "doomed")
    assert result.code == 2
    # The message says where it looked (see test_cli_store_reads).
    assert result.err.startswith("error: no job named 'doomed' in sqlite:///"), result


def run_id_of(execute_output: str) -> str:
    """The id in ``run <id>: <state> ...``, the first line ``tss execute-job`` prints."""
    first = execute_output.splitlines()[0]
    assert first.startswith("run "), execute_output
    return first.split()[1].rstrip(":")


def test_delete_with_history_deletes_its_runs(shared: Project) -> None:
    done = shared.tss("execute-job", "forgotten")
    assert done.code == 0, done
    ran = run_id_of(done.out)
    assert shared.json("run", "show", ran)["state"] == "succeeded"
    out = shared.ok("job", "delete", "forgotten", "--history").out.strip()
    assert out == "deleted forgotten and its history"
    gone = shared.tss("run", "show", ran)
    assert gone.code == 2 and "no run" in gone.err, gone
    assert shared.json("run", "list", "--job", "forgotten") == []


def test_execute_job_then_inspect_its_runs(shared: Project) -> None:
    done = shared.tss("execute-job", "greet", "--param", "kwargs.who=tester")
    assert done.code == 0, done
    assert "succeeded" in done.out and '"greeted":"tester"' in done.out
    failed = shared.tss("execute-job", "explode")
    assert failed.code == 1, failed
    assert "failed after 2 attempts" in failed.out and "the reactor melted" in failed.out
    good, bad = run_id_of(done.out), run_id_of(failed.out)

    listed = {r["id"]: r for r in shared.json("run", "list")}
    assert listed[good]["state"] == "succeeded" and listed[good]["job"] == "greet"
    assert listed[bad]["state"] == "failed" and listed[bad]["attempt"] == 2

    run = shared.json("run", "show", good)
    assert run["result"] == {"greeted": "tester"}
    assert run["params"]["kwargs"] == {"who": "tester"}
    assert [a["state"] for a in run["attempts"]] == ["succeeded"]
    assert shared.ok("run", "logs", good).out == "hello, tester\n"

    text = shared.ok("run", "show", bad).out
    assert "RuntimeError: the reactor melted" in text and "Traceback" in text
    assert shared.ok("run", "logs", bad, "--attempt", "1").out == "about to fail\n"

    again = shared.ok("run", "retry", bad).out.strip()
    assert "cancelled" in shared.ok("run", "cancel", again).out
    retried = shared.json("run", "show", again)
    assert retried["state"] == "cancelled" and retried["retry_of"] == bad


def test_config_check(tmp_path: Path) -> None:
    good = new_project(
        tmp_path / "good",
        config="python_path: [jobs]\njobs:\n"
        "  - {name: hi, type: python, params: {function: 'e2e_tasks:greet'}}\n"
        "  - {name: later, type: noop, depends_on: [hi]}\n",
        files={"jobs/e2e_tasks.py": TASKS},
    )
    assert good.ok("config", "check").out.strip() == "config OK: 2 jobs"
    assert "config OK" in good.ok("config", "check", "-c", str(REPO / "examples/config.yaml")).out

    broken = new_project(
        tmp_path / "broken",
        config="jobs:\n  - {name: nightly, type: noop, schedule: {cron: '0 25 * * *'}}\n",
    )
    for args in (["config", "check"], ["server"]):
        result = broken.tss(*args)
        assert result.code == 2, result
        (line,) = result.err.splitlines()
        assert line.startswith("error: config.yaml: jobs[0]: job 'nightly': schedule.cron: ")
    assert not (tmp_path / "broken" / "tss.db").exists()


def test_config_show_masks_passwords_without_connecting(project: Project) -> None:
    env = {
        "TSS_DATABASE_URL": "postgresql://u:secret@db.example/tss",
        "TSS_ADMIN_TOKEN": "hush-hush-admin-token-123",
    }
    shown = project.tss("config", "show", "--json", env=env)
    assert shown.code == 0, shown
    assert "secret" not in shown.out
    assert "hush-hush" not in shown.out
    assert '"url": "postgresql://u:***@db.example/tss"' in shown.out
    assert '"admin_token": "***"' in shown.out
    text = project.tss("config", "show", env=env)
    assert text.code == 0 and "secret" not in text.out and "u:***@db.example" in text.out
    assert "hush-hush" not in text.out


def test_config_show_masks_job_env_values_and_query_passwords(tmp_path: Path) -> None:
    project = new_project(
        tmp_path,
        config=TEST_CONFIG.replace(
            'store: {url: "sqlite:///tss.db"}',
            'store: {url: "postgresql://u@db.example/tss?password=query-secret&sslmode=require"}',
        )
        + "jobs:\n"
        + "  - name: backup\n"
        + "    type: shell\n"
        + "    params:\n"
        + "      argv: [backup]\n"
        + "      env: {REGION: literal-region, DB_PASSWORD: {from_file: /run/secrets/db},\n"
        + "            TOKEN: {from_env: BACKUP_TOKEN}}\n",
    )
    for args in (("config", "show", "--json"), ("config", "show")):
        shown = project.tss(*args)
        assert shown.code == 0, shown
        assert "query-secret" not in shown.out and "literal-region" not in shown.out
        assert "password=***&sslmode=require" in shown.out
        assert "/run/secrets/db" in shown.out and "BACKUP_TOKEN" in shown.out
    env = json.loads(project.ok("config", "show", "--json").out)["jobs"][0]["params"]["env"]
    assert env == {
        "REGION": "***",
        "DB_PASSWORD": {"from_file": "/run/secrets/db"},
        "TOKEN": {"from_env": "BACKUP_TOKEN"},
    }


def test_api_alone_refuses_the_local_broker(project: Project) -> None:
    refused = project.tss("api")
    assert refused.code == 2, refused
    assert refused.err.startswith("error: broker.url: tss api serves the API alone")


def test_db_upgrade(project: Project) -> None:
    result = project.ok("db", "upgrade")
    assert "is at revision" in result.out
    assert (project.root / "tss.db").exists()


def test_split_processes_refuse_the_local_broker(project: Project) -> None:
    for args in (["scheduler"], ["worker", "--worker-id", "w1", "--pool", "a"]):
        result = project.tss(*args)
        assert result.code == 2, result
        (line,) = result.err.splitlines()
        assert line.startswith("error: broker.url: the local:// broker only works")


@pytest.mark.slow
def test_job_run_wait_against_a_server(tmp_path: Path) -> None:
    config = (
        "store: {url: 'sqlite:///tss.db'}\npython_path: [jobs]\nserver: {port: 0}\n"
        "worker: {grace_period: 5s, heartbeat_interval: 0.5s}\n"
        "jobs:\n"
        "  - {name: ping, type: noop, params: {result: pong}}\n"
        "  - {name: explode, type: python, params: {function: 'e2e_tasks:explode'}}\n"
    )
    project = new_project(tmp_path, config=config, files={"jobs/e2e_tasks.py": TASKS})
    try:
        server = project.start("server")
        project.wait_for_log("press Ctrl+C")
        done = project.tss("job", "run", "ping", "--count", "2", "--wait", "--timeout", "30")
        assert done.code == 0, done
        ids = done.out.split()[:2]
        assert len(ids) == 2 and done.out.count("succeeded") == 2
        assert {r["state"] for r in project.json("run", "list", "--job", "ping")} == {"succeeded"}
        (worker,) = project.json("workers")
        assert worker["state"] == "up"

        failed = project.tss("job", "run", "explode", "--wait", "--timeout", "30")
        assert failed.code == 1, failed
        assert "failed" in failed.out

        assert project.stop(server, timeout=15) == 0
        assert "stopped" in (tmp_path / "server.log").read_text()
    finally:
        project.close()


GUARDED = "jobs:\n  - {name: existing, type: noop, schedule: {every: 1h}}\n"

BAD_FILES = {
    "invalid-cron": (
        "apply",
        "- {name: bad-cron, type: noop, schedule: {cron: '61 * * * *'}}",
        ["job 'bad-cron'", "schedule.cron: ", "invalid cron expression"],
    ),
    "unknown-timezone": (
        "apply",
        "- {name: zoned, type: noop, schedule: {cron: '0 2 * * *', timezone: Mars/Olympus}}",
        ["job 'zoned'", "schedule.timezone: ", "Mars/Olympus"],
    ),
    "zero-interval": (
        "apply",
        "- {name: zero, type: noop, schedule: {every: 0}}",
        ["job 'zero'", "schedule.every: ", "greater than 0"],
    ),
    "negative-interval": (
        "apply",
        "- {name: negative, type: noop, schedule: {every: -5}}",
        ["job 'negative'", "schedule.every: ", "-5"],
    ),
    "unknown-type": (
        "apply",
        "- {name: rocket, type: rocket}",
        ["job 'rocket'", "type: ", "unknown task type 'rocket'"],
    ),
    "python-import": (
        "apply",
        "- {name: missing, type: python, params: {function: 'no_such_module:main'}}",
        ["job 'missing'", "params.function: ", "no_such_module"],
    ),
    "duplicate-name": (
        "apply",
        "- {name: twice, type: noop}\n- {name: twice, type: noop}",
        ["job 'twice'", "name: ", "defined twice"],
    ),
    "create-existing": (
        "create",
        "- {name: fresh, type: noop}\n- {name: existing, type: noop}",
        ["job 'existing'", "name: ", "exists already"],
    ),
    "script-name": (
        "apply",
        "- {name: '<script>alert(1)</script>', type: noop}",
        ["job '<script>alert(1)</script>'", "name: ", "not a valid name"],
    ),
    "dependency-cycle": (
        "apply",
        "- {name: a, type: noop, depends_on: [b]}\n- {name: b, type: noop, depends_on: [a]}",
        ["depends_on: ", "a -> b -> a"],
    ),
    "malformed-yaml": (
        "apply",
        "- name: broken\n  type: noop\n   schedule: [every",
        ["line 3", "malformed YAML"],
    ),
    "recursive-alias": (
        "apply",
        "- name: loop\n  type: noop\n  tags: &t [*t]",
        ["line 3", "refused YAML", "alias *t refers to its own anchor"],
    ),
    "oversized": (
        "apply",
        "- {name: big, type: noop}\n# " + "x" * (1 << 20),
        ["larger than 1 MiB"],
    ),
}

#: 8 levels of nine-fold aliases: 472 bytes that describe 43 million strings
ALIAS_BOMB = "\n".join(
    [
        "- name: bomb",
        "  type: python",
        "  params:",
        '    function: "os.path:join"',
        "    kwargs:",
        '      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"      {b}: &{b} [{','.join([f'*{a}'] * 9)}]" for a, b in pairwise("abcdefgh")),
        f"      x: [{','.join(['*h'] * 9)}]",
    ]
)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, str]]:
    """A project with one stored job, and ``tss job list --json`` as it stands."""
    project = new_project(tmp_path_factory.mktemp("guarded"), files={"jobs.yaml": GUARDED})
    project.ok("job", "apply", "-f", "jobs.yaml")
    yield project, project.ok("job", "list", "--json").out
    project.close()


def test_an_alias_bomb_is_refused_at_once(guarded: tuple[Project, str]) -> None:
    project, before = guarded
    project.write("bomb.yaml", ALIAS_BOMB + "\n")
    assert (project.root / "bomb.yaml").stat().st_size < 600
    # Expanded, the aliases would take memory and time without end: the timeout (which
    # raises) only catches that, the answer says it was refused before.
    result = project.tss("job", "apply", "-f", "bomb.yaml", timeout=30)
    assert result.code == 2, result
    (line,) = result.err.splitlines()
    assert line.startswith("error: bomb.yaml: line 11, column "), line
    assert "refused YAML: aliases expand to more than 100000 nodes" in line
    assert project.ok("job", "list", "--json").out == before


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_job_file_is_refused_and_nothing_is_stored(
    guarded: tuple[Project, str], case: str
) -> None:
    project, before = guarded
    command, text, expected = BAD_FILES[case]
    project.write(f"{case}.yaml", text + "\n")
    result = project.tss("job", command, "-f", f"{case}.yaml")
    assert result.code == 2, result
    assert result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith(f"error: {case}.yaml: "), line
    for fragment in expected:
        assert fragment in line, (fragment, line)
    assert "Traceback" not in result.err
    assert project.ok("job", "list", "--json").out == before


def test_a_queued_run_says_why_it_waits(shared: Project) -> None:
    shared.write("waits.yaml", "- {name: waits, type: noop, pool: gpu}\n")
    shared.ok("job", "apply", "-f", "waits.yaml")
    run_id = shared.ok("job", "run", "waits").out.split()[0]
    why = "no worker is up: the run waits for one to start"  # no server runs here
    assert shared.json("run", "show", run_id)["waiting_because"] == why
    assert f"waiting because {why}" in " ".join(shared.ok("run", "show", run_id).out.split())
    listed = {r["id"]: r for r in shared.json("run", "list", "--job", "waits")}
    assert listed[run_id]["waiting_because"] == why
    listing = " ".join(shared.ok("run", "list", "--job", "waits").out.split())
    assert f"run {run_id} waits: {why}" in listing
    done = shared.json("run", "show", shared.ok("execute-job", "greet").out.split()[1][:-1])
    assert done["waiting_because"] is None


def test_job_run_says_why_its_runs_wait(tmp_path: Path) -> None:
    """A live worker serves `default` only: a trigger of a `gpu` job says so at once."""
    project = new_project(tmp_path, TEST_CONFIG.replace('"local://"', '"store://"'))
    try:
        project.write("waits.yaml", "- {name: waits, type: noop, pool: gpu}\n")
        project.ok("job", "apply", "-f", "waits.yaml")
        worker = project.start("worker")
        project.wait_for_log("press Ctrl+C")
        made = project.ok("job", "run", "waits")
        assert "the runs wait: no live worker serves pool 'gpu'" in " ".join(made.err.split())
        assert project.stop(worker) == 0
    finally:
        project.close()
