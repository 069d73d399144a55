"""Commands that only read never create a store, and every command that finds nothing says
which config file and store it looked in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Project, Result

#: commands that work on an existing store: on a SQLite file that does not exist they refuse
#: rather than create it
READERS = [
    ("job", "list"),
    ("job", "show", "nightly"),
    ("job", "next", "nightly"),
    ("job", "pause", "nightly"),
    ("job", "resume", "nightly"),
    ("job", "delete", "nightly"),
    ("job", "run", "nightly"),
    ("execute-job", "nightly"),
    ("run", "list"),
    ("run", "show", "r1"),
    ("run", "logs", "r1"),
    ("run", "cancel", "r1"),
    ("run", "retry", "r1"),
    ("flow", "list"),
    ("flow", "show", "nightly"),
    ("flow", "status", "r1"),
    ("workers",),
    ("token", "list"),
    ("token", "revoke", "ci"),
]
JOBS = "jobs:\n  - {name: nightly, type: noop}\n"


def flat(result: Result) -> str:
    """stdout and stderr as one line (the console wraps long lines)."""
    return " ".join((result.out + result.err).split())


@pytest.fixture
def elsewhere(tmp_path: Path) -> Project:
    """A folder with no config file: what a user meets outside the project folder."""
    root = tmp_path / "elsewhere"
    root.mkdir()
    return Project(root)


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_a_reading_command_outside_the_project_creates_no_database(
    elsewhere: Project, args: tuple[str, ...]
) -> None:
    result = elsewhere.tss(*args)
    assert result.code == 2, result
    assert list(elsewhere.root.iterdir()) == [], "a database file was created"
    text = flat(result)
    database = elsewhere.root.resolve() / "tss.db"
    assert f"error: no store at sqlite:///{database}" in text, result
    assert "config: none found" in text, result
    assert f"config.yaml or configs/config.yaml in {elsewhere.root.resolve()}" in text, result
    assert "--config" in text and "tss job apply" in text, result


def test_the_error_names_the_config_file_used(elsewhere: Project, tmp_path: Path) -> None:
    config = tmp_path / "project" / "config.yaml"
    config.parent.mkdir()
    database = tmp_path / "project" / "data" / "tss.db"
    config.write_text(f"store: {{url: 'sqlite:///{database}'}}\n")
    result = elsewhere.tss("run", "list", "--config", str(config))
    assert result.code == 2, result
    assert not database.exists()
    text = flat(result)
    assert f"no store at sqlite:///{database}" in text, result
    assert f"config: {config}" in text, result


def test_writing_commands_still_create_the_store(project: Project) -> None:
    project.write("jobs.yaml", JOBS)
    project.ok("job", "apply", "-f", "jobs.yaml")
    assert (project.root / "tss.db").is_file()
    assert "nightly" in project.ok("job", "list").out


def test_token_create_and_db_upgrade_create_the_store(tmp_path: Path) -> None:
    for args in (("token", "create", "--name", "ci", "--role", "viewer"), ("db", "upgrade")):
        project = Project(tmp_path / args[0])
        project.root.mkdir()
        project.write("config.yaml", "store: {url: 'sqlite:///tss.db'}\n")
        project.ok(*args)
        assert (project.root / "tss.db").is_file(), args


@pytest.mark.parametrize(
    ("args", "nothing"),
    [
        (("job", "list"), "no jobs in"),
        (("run", "list"), "no runs in"),
        (("run", "list", "--job", "nightly"), "no runs in"),
        (("flow", "list"), "no flow runs in"),
        (("workers",), "no workers have registered in"),
        (("token", "list"), "no tokens in"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_finding_nothing_names_the_store_and_config(
    project: Project, args: tuple[str, ...], nothing: str
) -> None:
    project.ok("db", "upgrade")
    text = flat(project.ok(*args))
    database = project.root.resolve() / "tss.db"
    config = project.root.resolve() / "config.yaml"
    assert f"{nothing} sqlite:///{database} (config: {config})" in text


def test_a_missing_name_names_the_store_and_config(project: Project) -> None:
    project.ok("db", "upgrade")
    result = project.tss("job", "show", "nope")
    assert result.code == 2, result
    database = project.root.resolve() / "tss.db"
    assert f"no job named 'nope' in sqlite:///{database} (config: " in flat(result)


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_reading_command_creates_no_schema_on_a_server_store(
    tmp_path: Path, pytestconfig: pytest.Config, kind: str
) -> None:
    """An empty PostgreSQL database, a Redis prefix never used: `tss job list` refuses
    and leaves them as they were; `tss db upgrade` then creates the store and it reads."""
    import uuid

    import psycopg
    import redis

    from tests.servers import REDIS_START, PgDatabases, require_server

    if kind == "postgres":
        url = PgDatabases.shared(pytestconfig).create_empty()

        def untouched() -> bool:
            tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            with psycopg.connect(url) as conn:
                return conn.execute(tables).fetchone() == (0,)
    else:
        base = "redis://127.0.0.1:6379/0"
        require_server("Redis", base, REDIS_START)
        prefix = f"tss-reads-{uuid.uuid4().hex[:12]}"
        url = f"{base}?prefix={prefix}"

        def untouched() -> bool:
            client = redis.Redis.from_url(base)
            try:
                return not list(client.scan_iter(match=f"{prefix}:*"))
            finally:
                client.close()

    project = Project(tmp_path)
    project.write("config.yaml", f"store: {{url: '{url}'}}\nbroker: {{url: 'store://'}}\n")
    result = project.tss("job", "list")
    assert result.code == 2, result
    assert "error: no store at " in flat(result) and "does not create one" in flat(result)
    assert untouched(), "a reading command created the store"
    project.ok("db", "upgrade")
    assert not untouched()
    assert "no jobs in" in flat(project.ok("job", "list"))
    if kind == "redis":
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.unlink(*keys)
        finally:
            client.close()
