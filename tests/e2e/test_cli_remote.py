"""The CLI against a running server (``--url``/``--token``): one real ``tss server`` for the
module, the real console script as the client, and the same commands in local mode
(``--config``, on the server's SQLite file) to check that both show the same data.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Remote, remote_server

pytestmark = pytest.mark.slow

CONFIG = """\
store: {url: "sqlite:///tss.db"}
broker: {url: "local://"}
server: {port: 0}
scheduler: {max_sleep: 0.2s}
worker: {grace_period: 5s, heartbeat_interval: 0.3s}
logging: {level: WARNING}
jobs:
  - {name: echo, type: shell, params: {argv: [sh, -c, "echo out-line; echo err-line >&2"]}}
  - {name: ping, type: noop, params: {result: pong}}
  - {name: fail, type: shell, params: {argv: [sh, -c, "echo bad; exit 3"]}}
  - {name: slow, type: shell, params: {argv: [sh, -c, "echo one; sleep 1.5; echo two"]}}
  - name: yearly
    type: noop
    schedule: {cron: "0 0 1 1 *", timezone: Europe/Paris}
    tags: [demo]
  - {name: pausable, type: noop, schedule: {every: 1h}}
"""


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with remote_server(tmp_path_factory.mktemp("remote"), CONFIG, "e2e") as made:
        yield made


def test_jobs_look_the_same_remote_and_local(remote: Remote) -> None:
    listed = remote.json("job", "list")
    assert {"echo", "ping", "yearly", "pausable"} <= {j["name"] for j in listed}
    assert listed == remote.local("job", "list")
    assert remote.json("job", "list", "--tag", "demo") == remote.local(
        "job", "list", "--tag", "demo"
    )

    shown = remote.json("job", "show", "yearly")
    assert shown == remote.local("job", "show", "yearly")
    assert shown["spec"]["schedule"]["cron"] == "0 0 1 1 *"
    assert len(shown["next_fires"]) == 5
    text = remote.ok("job", "show", "yearly").out
    assert "job yearly" in text and "next fire times" in text and "no runs yet" in text
    assert remote.json("job", "next", "yearly", "-n", "2") == remote.local(
        "job", "next", "yearly", "-n", "2"
    )
    table = remote.ok("job", "list").out
    assert "yearly" in table and "pausable" in table


def test_job_run_wait_then_inspect_the_runs(remote: Remote) -> None:
    done = remote.tss("job", "run", "ping", "--count", "2", "--wait", "--timeout", "30")
    assert done.code == 0, done
    ids = done.out.split()[:2]
    assert done.out.count("succeeded") == 2

    runs = remote.json("run", "list", "--job", "ping")
    assert {r["id"] for r in runs} == set(ids)
    assert runs == remote.local("run", "list", "--job", "ping")
    assert "succeeded" in remote.ok("run", "list").out

    shown = remote.json("run", "show", ids[0])
    assert shown == remote.local("run", "show", ids[0])
    assert shown["state"] == "succeeded" and shown["result"] == "pong"
    assert [a["state"] for a in shown["attempts"]] == ["succeeded"]
    text = remote.ok("run", "show", ids[0]).out
    assert ids[0] in text and "succeeded" in text and "attempt" in text

    echoed = remote.tss("job", "run", "echo", "--wait", "--timeout", "30")
    assert echoed.code == 0, echoed
    run_id = echoed.out.split()[0]
    assert remote.ok("run", "logs", run_id).out == "out-line\n"
    assert remote.ok("run", "logs", run_id, "--stderr").out == "err-line\n"
    assert remote.ok("run", "logs", run_id, "--follow").out == "out-line\n"


def test_run_logs_follow_polls_until_the_run_ends(remote: Remote) -> None:
    run_id = remote.ok("job", "run", "slow").out.split()[0]
    followed = remote.ok("run", "logs", run_id, "--follow")
    assert followed.out == "one\ntwo\n"
    assert remote.json("run", "show", run_id)["state"] == "succeeded"


def test_execute_job_runs_on_the_servers_workers(remote: Remote) -> None:
    done = remote.tss("execute-job", "echo")
    assert done.code == 0, done
    first = done.out.splitlines()[0]
    assert first.startswith("run ") and "succeeded in 1 attempt" in first, done
    run_id = first.split()[1].rstrip(":")
    assert remote.local("run", "show", run_id)["worker_id"] is not None

    failed = remote.tss("execute-job", "fail")
    assert failed.code == 1, failed
    assert "failed" in failed.out and "exit" in failed.out.lower()

    as_json = remote.tss("execute-job", "ping", "--json")
    assert as_json.code == 0, as_json
    run = json.loads(as_json.out)
    assert run["state"] == "succeeded" and run["result"] == "pong"
    local = remote.local("run", "show", run["id"])
    del local["attempts"]
    assert run == local


def test_workers(remote: Remote) -> None:
    workers = remote.json("workers")
    assert [w["state"] for w in workers] == ["up"]
    assert [w["id"] for w in workers] == [w["id"] for w in remote.local("workers")]
    assert workers[0]["id"] in remote.ok("workers").out


def test_pause_and_resume(remote: Remote) -> None:
    assert remote.ok("job", "pause", "pausable").out.strip() == "paused pausable"
    assert remote.local("job", "show", "pausable")["spec"]["paused"] is True
    assert "pausable" in {j["name"] for j in remote.json("job", "list", "--paused")}
    assert "resumed pausable; next run" in remote.ok("job", "resume", "pausable").out
    assert remote.local("job", "show", "pausable")["spec"]["paused"] is False


def test_pause_with_a_note_and_in_bulk(remote: Remote) -> None:
    out = remote.ok("job", "pause", "yearly", "--note", "new year freeze", "--until", "1d").out
    assert out.startswith("paused yearly until ")
    local, shown = remote.local("job", "show", "yearly"), remote.json("job", "show", "yearly")
    assert local["pause"] == shown["pause"]
    assert (shown["pause"]["by"], shown["pause"]["note"]) == ("token:e2e-admin", "new year freeze")
    assert "new year freeze" in remote.ok("job", "list").out
    assert remote.ok("job", "resume", "--tag", "demo").out.splitlines() == [
        "resumed 1 job:",
        "  yearly",
    ]
    refused = remote.tss("job", "pause", "--tag", "demo", "--until", "2001-01-01T00:00:00Z")
    assert refused.code != 0 and "until" in refused.err, refused
    assert remote.local("job", "show", "yearly")["pause"] is None


def test_apply_create_delete_through_the_env_vars(remote: Remote) -> None:
    project = remote.project
    env = {"TSS_URL": remote.url, "TSS_TOKEN": remote.admin}
    project.write("remote-jobs.yaml", "- {name: r-child, type: noop, depends_on: [r-parent]}\n"
                  "- {name: r-parent, type: noop, schedule: {every: 1h}}\n")  # fmt: skip
    apply = ("job", "apply", "-f", "remote-jobs.yaml")
    assert project.tss(*apply, env=env).out.split() == ["created", "r-child", "created", "r-parent"]
    assert project.tss(*apply, env=env).out.split() == [
        "unchanged", "r-child", "unchanged", "r-parent"
    ]  # fmt: skip
    project.write("remote-jobs.yaml", "- {name: r-parent, type: noop, schedule: {every: 2h}}\n")
    assert project.tss(*apply, env=env).out.split() == ["updated", "r-parent"]

    created = project.tss("job", "create", "-f", "remote-jobs.yaml", env=env)
    assert created.code == 2, created
    assert "exists already" in created.err and "remote-jobs.yaml" in created.err
    # One batch, checked whole on the server: the good job before the bad one is not stored.
    project.write("bad-remote.yaml", "- {name: r-fine, type: noop}\n"
                  "- {name: rocket, type: rocket}\n")  # fmt: skip
    bad = project.tss("job", "apply", "-f", "bad-remote.yaml", env=env)
    assert bad.code == 2, bad
    assert bad.err.startswith("error: bad-remote.yaml: job 'rocket': type: ")

    local = {j["name"]: j for j in remote.local("job", "list", "--prefix", "r-")}
    assert set(local) == {"r-child", "r-parent"}
    assert local["r-parent"]["spec"]["schedule"]["every"] == 7200
    assert project.tss("job", "delete", "r-child", env=env).out.strip() == "deleted r-child"
    assert [j["name"] for j in remote.local("job", "list", "--prefix", "r-")] == ["r-parent"]


def test_tokens_through_the_api(remote: Remote) -> None:
    made = remote.ok("token", "create", "--name", "remote-op", "--role", "operator")
    token = made.out.strip()
    assert token.startswith("tss_")
    listed = remote.json("token", "list")
    assert {t["name"] for t in listed} >= {"e2e-admin", "e2e-viewer", "remote-op"}
    assert token.removeprefix("tss_").partition("_")[2] not in json.dumps(listed)

    def brief(tokens: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(t["id"], t["name"], t["role"], t["revoked_at"]) for t in tokens]

    assert brief(listed) == brief(remote.local("token", "list"))
    assert remote.tss("job", "run", "ping", token=token).code == 0
    assert remote.ok("token", "revoke", "remote-op").out.strip() == "revoked remote-op"
    refused = remote.tss("job", "list", token=token)
    assert refused.code == 2, refused
    assert "refused the token" in refused.err and remote.url in refused.err


def test_errors_name_the_token_the_role_and_the_url(remote: Remote) -> None:
    project = remote.project
    no_token = project.tss("--url", remote.url, "job", "list")
    assert no_token.code == 2, no_token
    (line,) = no_token.err.splitlines()
    assert line.startswith("error: ") and "token" in line and "--token" in line

    viewer = remote.tss("job", "run", "ping", token=remote.viewer)
    assert viewer.code == 2, viewer
    (line,) = viewer.err.splitlines()
    assert "operator role" in line and "viewer" in line
    assert remote.tss("job", "list", token=remote.viewer).code == 0

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    down = project.tss("--url", url, "--token", remote.admin, "job", "list")
    assert down.code == 1, down
    (line,) = down.err.splitlines()
    assert line.startswith("error: ") and url in line

    missing = remote.tss("run", "show", "no-such-run")
    assert missing.code == 2, missing
    assert "no-such-run" in missing.err
    assert project.tss("--url", "not-a-url", "job", "list").code == 2


def test_url_and_token_may_follow_the_command(remote: Remote) -> None:
    result = remote.project.tss(
        "job", "list", "--json", "--url", remote.url, "--token", remote.admin
    )
    assert result.code == 0, result
    assert "ping" in {j["name"] for j in json.loads(result.out)}


def test_flows_look_the_same_remote_and_local(remote: Remote) -> None:
    remote.project.write(
        "flow-jobs.yaml",
        "- {name: fl-top, type: noop}\n"
        "- {name: fl-mid, type: noop, depends_on: [fl-top]}\n"
        "- {name: fl-fix, type: noop, depends_on: [{job: fl-mid, 'on': failure}]}\n",
    )
    remote.ok("job", "apply", "-f", "flow-jobs.yaml")
    assert remote.json("flow", "show", "fl-top") == remote.local("flow", "show", "fl-top")
    tree = remote.ok("flow", "show", "fl-top").out
    assert "fl-mid" in tree and "on failure" in tree
    done = remote.ok("job", "run", "fl-top", "--wait", "--timeout", "30")
    run_id = done.out.split()[0]
    deadline = time.monotonic() + 30
    while (status := remote.json("flow", "status", run_id))["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status == remote.local("flow", "status", run_id)
    assert {r["job"]: r["state"] for r in status["runs"]} == {
        "fl-top": "succeeded",
        "fl-mid": "succeeded",
        "fl-fix": "skipped",
    }
    lone = remote.tss("flow", "status", remote.ok("job", "run", "ping").out.split()[0])
    assert lone.code == 2 and "not part of a flow" in lone.err, lone
    listed = remote.json("flow", "list")
    assert listed == remote.local("flow", "list")
    [mine] = [f for f in listed if f["flow_id"] == run_id]
    assert (mine["root_job"], mine["root_run"], mine["state"]) == ("fl-top", run_id, "succeeded")
    assert mine["counts"] == {"skipped": 1, "succeeded": 2}
    table = remote.ok("flow", "list", "--limit", "1").out
    assert "fl-top" in table and "succeeded" in table and "root job" in table
