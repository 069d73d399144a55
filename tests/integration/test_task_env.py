"""What a task sees in its environment: the worker's base set, the job's env, references
resolved on the worker; never TSS's own variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tss.config import Settings
from tss.core.states import RunState
from tss.errors import ValidationError

from .test_runtime import one, run, serving

SECRETS = {
    "TSS_ADMIN_TOKEN": "admin-token-that-must-not-leak",
    "TSS_DATABASE_URL": "postgresql://u:db-password-that-must-not-leak@h/db",
    "tss_token": "lowercase-token-that-must-not-leak",
    "CLOUD_SECRET": "worker-secret-not-for-tasks",
}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A worker whose own environment holds secrets, and a language setting."""
    for name, value in {**SECRETS, "LANG": "C.UTF-8", "LC_TIME": "C"}.items():
        monkeypatch.setenv(name, value)
    return Settings(
        store={"url": f"sqlite:///{tmp_path}/tss.db"},
        worker={"heartbeat_interval": 0.2, "lease": 5, "grace_period": 1},
        scheduler={"max_sleep": 0.2},
    )


def _env_lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_shell_tasks_get_the_base_set_and_their_own_env_only(settings: Settings) -> None:
    def job(name: str, **params: object) -> dict[str, object]:
        return {"name": name, "type": "shell", "params": {"argv": ["/usr/bin/env"], **params}}

    async def body() -> None:
        jobs = [
            job("default", env={"GREETING": "hello", "COUNT": 3}),
            job("boolean", inherit_env=True),
            job("listed", inherit_env=["CLOUD_SECRET"]),
            job("nothing", inherit_env=False, env={"ONLY": "me"}),
        ]
        async with serving(settings, jobs) as app:
            seen = {}
            for name in ("default", "boolean", "listed", "nothing"):
                done = await one(app, name)
                assert done.state is RunState.SUCCEEDED, done.error
                stdout = (await app.store.get_logs(done.id))[0]
                for secret in SECRETS.values():
                    if name != "listed" or secret != SECRETS["CLOUD_SECRET"]:
                        assert secret not in stdout, (name, stdout)
                seen[name] = _env_lines(stdout)
            assert seen["default"]["GREETING"] == "hello" and seen["default"]["COUNT"] == "3"
            for name in ("default", "boolean", "listed"):
                env = seen[name]
                assert {"PATH", "LANG", "LC_TIME", "TSS_RUN_ID", "TSS_JOB"} <= set(env), env
                assert {k for k in env if k.upper().startswith("TSS_")} == {
                    "TSS_RUN_ID", "TSS_ATTEMPT", "TSS_JOB",
                }  # fmt: skip
            assert "CLOUD_SECRET" not in seen["default"]
            assert seen["listed"]["CLOUD_SECRET"] == SECRETS["CLOUD_SECRET"]
            assert set(seen["nothing"]) == {"ONLY", "TSS_RUN_ID", "TSS_ATTEMPT", "TSS_JOB"}

    run(body())


def test_python_children_get_the_clean_environment(settings: Settings) -> None:
    async def body() -> None:
        jobs = [
            {
                "name": f"getenv-{var.lower()}",
                "type": "python",
                "isolation": "process",
                "params": {"function": "os:getenv", "args": [var]},
            }
            for var in ("TSS_ADMIN_TOKEN", "tss_token", "CLOUD_SECRET", "LANG")
        ]
        async with serving(settings, jobs) as app:
            for job in jobs:
                done = await one(app, str(job["name"]))
                assert done.state is RunState.SUCCEEDED, done.error
                expected = "C.UTF-8" if job["name"] == "getenv-lang" else None
                assert done.result == expected, job["name"]

    run(body())


def test_env_references_are_read_by_the_worker_at_run_time(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "db-password"
    secret_file.write_text("from-a-file\n")
    env = {
        "DB_PASSWORD": {"from_file": str(secret_file)},
        "API_KEY": {"from_env": "CLOUD_SECRET"},
        "PLAIN": "literal",
    }
    script = 'printf "%s|%s|%s" "$DB_PASSWORD" "$API_KEY" "$PLAIN"'

    async def body() -> None:
        jobs = [
            {"name": "refs", "type": "shell", "params": {"argv": ["sh", "-c", script], "env": env}},
            {
                "name": "no-var",
                "type": "shell",
                "params": {"argv": ["true"], "env": {"X": {"from_env": "NOT_SET_ANYWHERE"}}},
            },
            {
                "name": "no-file",
                "type": "shell",
                "params": {"argv": ["true"], "env": {"Y": {"from_file": str(tmp_path / "nope")}}},
            },
        ]
        async with serving(settings, jobs) as app:
            # stored as written: the value is read only when an attempt starts
            assert (await app.store.get_job("refs")).spec.params["env"] == env
            secret_file.write_text("changed-before-the-run\n")
            done = await one(app, "refs")
            assert done.state is RunState.SUCCEEDED, done.error
            stdout = (await app.store.get_logs(done.id))[0]
            assert stdout == f"changed-before-the-run|{SECRETS['CLOUD_SECRET']}|literal"

            failed = await one(app, "no-var")
            assert failed.state is RunState.FAILED
            assert failed.error is not None and failed.error.type == "EnvReferenceError"
            assert failed.error.message == (
                "params.env.X: the worker has no variable NOT_SET_ANYWHERE"
            )
            failed = await one(app, "no-file")
            assert failed.error is not None and failed.error.type == "EnvReferenceError"
            assert failed.error.message.startswith(f"params.env.Y: cannot read {tmp_path}/nope")

    run(body())


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"env": {"DB_PASSWORD": {"from_env": "TSS_ADMIN_TOKEN"}}},
         "params.env.DB_PASSWORD.from_env", "may not read TSS_ADMIN_TOKEN"),
        ({"env": {"DB_PASSWORD": {"from_env": "tss_token"}}},
         "params.env.DB_PASSWORD.from_env", "may not read tss_token"),
        ({"env": {"DB_PASSWORD": {"from_file": "relative/path"}}},
         "params.env.DB_PASSWORD.from_file", "absolute path"),
        ({"env": {"DB_PASSWORD": {"from_file": "/proc/self/environ"}}},
         "params.env.DB_PASSWORD.from_file", "/proc"),
        ({"env": {"DB_PASSWORD": {"from_env": "A", "from_file": "/x"}}},
         "params.env.DB_PASSWORD", "with nothing else"),
        ({"env": {"DB_PASSWORD": {"value": "x"}}}, "params.env.DB_PASSWORD", "from_env"),
        ({"env": {"DB_PASSWORD": ["x"]}}, "params.env.DB_PASSWORD", "a string, a number"),
        ({"env": {"DB_PASSWORD": None}}, "params.env.DB_PASSWORD", "a string, a number"),
        ({"env": ["A=1"]}, "params.env", "mapping"),
        ({"inherit_env": ["TSS_ADMIN_TOKEN"]}, "params.inherit_env", "may not pass"),
        ({"inherit_env": "yes"}, "params.inherit_env", "true, false, or a list"),
    ],
)  # fmt: skip
def test_env_shapes_are_checked_at_the_door(
    settings: Settings, params: dict[str, object], field: str, words: str
) -> None:
    async def body() -> None:
        async with serving(settings, []) as app:
            job = {"name": "bad", "type": "shell", "params": {"argv": ["true"], **params}}
            with pytest.raises(ValidationError) as info:
                await app.jobs.apply([job])
            assert info.value.field == field
            assert words in info.value.message
            assert f"{field}: " in info.value.message

    run(body())
