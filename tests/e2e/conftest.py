"""Fixtures for end-to-end tests: a project folder and the real ``tss`` console script.

A :class:`Project` is a folder with a ``config.yaml``; its commands run as subprocesses with
that folder as the working directory and no ``TSS_*`` variables inherited, so tests are
isolated from each other and from the developer's environment (pytest-xdist safe).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TSS = str(Path(sys.executable).parent / "tss")


@dataclass
class Result:
    """What one ``tss`` call did."""

    args: list[str]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        command = " ".join(self.args)
        return f"tss {command} -> {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


@dataclass
class Project:
    """A folder with a config, where ``tss`` commands run."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def write(self, name: str, text: str) -> Path:
        """Write a file under the project folder (creating folders) and return its path."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TSS_")}
        env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "200", **self.env, **(extra or {})})
        return env

    def tss(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        """Run ``tss ARGS`` here and return its exit code and output."""
        proc = subprocess.run(
            [TSS, *args],
            cwd=self.root,
            env=self.environ(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(list(args), proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """Run ``tss ARGS`` and insist that it exits 0."""
        result = self.tss(*args, env=env)
        assert result.code == 0, str(result)
        return result

    def json(self, *args: str) -> Any:
        """Run ``tss ARGS --json`` (exit 0) and parse its stdout."""
        return json.loads(self.ok(*args, "--json").out)

    def start(self, *args: str, log: str = "server.log") -> subprocess.Popen[bytes]:
        """Start a long-running ``tss ARGS`` (e.g. ``server``); its output goes to ``log``.
        Stopped with SIGKILL at teardown if the test did not stop it."""
        with (self.root / log).open("ab") as handle:
            proc = subprocess.Popen(
                [TSS, *args],
                cwd=self.root,
                env=self.environ(),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        self.servers.append(proc)
        return proc

    def wait_for_log(self, text: str, timeout: float = 20, log: str = "server.log") -> None:
        """Wait until ``text`` appears in ``log``."""
        wait_until(
            lambda: text in (self.root / log).read_text(errors="replace"),
            timeout,
            f"{text!r} in {log}",
            lambda: (self.root / log).read_text(errors="replace")[-3000:],
        )

    def api_url(self, log: str = "server.log") -> str:
        """The API address a ``tss server`` started here shows in its banner, once it is up."""
        self.wait_for_log("press Ctrl+C", log=log)
        banner = (self.root / log).read_text()
        found = re.search(r"api\s+(http://127\.0\.0\.1:\d+)/api/v1", banner)
        assert found, banner
        return found.group(1)

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
        """SIGTERM ``proc`` and return its exit code (fails if it outlives ``timeout``)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def close(self) -> None:
        for proc in self.servers:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, context: Callable[[], str] = str
) -> None:
    """Poll ``check`` every 0.1 s until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{context()}")


#: a config for tests: SQLite in the project folder, short timings, quiet logs
TEST_CONFIG = """\
store: {url: "sqlite:///tss.db"}
broker: {url: "local://"}
python_path: [jobs]
scheduler: {max_sleep: 0.2s}
worker: {grace_period: 5s, heartbeat_interval: 0.5s}
logging: {level: WARNING}
server: {port: 0}
"""


def new_project(
    root: Path, config: str = TEST_CONFIG, files: dict[str, str] | None = None
) -> Project:
    """A project in ``root`` with ``config`` as its config.yaml and ``files`` written."""
    project = Project(root)
    project.write("config.yaml", config)
    for name, text in (files or {}).items():
        project.write(name, text)
    return project


@dataclass
class Remote:
    """A project whose server is running, and tokens for it."""

    project: Project
    url: str
    admin: str
    viewer: str

    def tss(self, *args: str, token: str | None = None) -> Result:
        """``tss --url URL --token TOKEN ARGS`` (the admin token unless told)."""
        return self.project.tss("--url", self.url, "--token", token or self.admin, *args)

    def ok(self, *args: str, token: str | None = None) -> Result:
        """:meth:`tss`, insisting that it exits 0."""
        result = self.tss(*args, token=token)
        assert result.code == 0, str(result)
        return result

    def json(self, *args: str, token: str | None = None) -> Any:
        """:meth:`ok` with ``--json``, its stdout parsed."""
        return json.loads(self.ok(*args, "--json", token=token).out)

    def local(self, *args: str) -> Any:
        """The same command on the store, as JSON."""
        return self.project.json("--config", "config.yaml", *args)


@contextmanager
def remote_server(root: Path, config: str, tokens: str) -> Iterator[Remote]:
    """A project in ``root`` with ``config``, its ``tss server`` running, and two tokens for
    it: ``<tokens>-admin`` (admin) and ``<tokens>-viewer`` (viewer). On leaving, the server
    must stop with exit code 0; whatever it started is killed."""
    project = new_project(root, config=config)
    admin = project.ok("token", "create", "--name", f"{tokens}-admin", "--role", "admin")
    viewer = project.ok("token", "create", "--name", f"{tokens}-viewer", "--role", "viewer")
    server = project.start("server")
    try:
        yield Remote(project, project.api_url(), admin.out.strip(), viewer.out.strip())
        assert project.stop(server) == 0
    finally:
        project.close()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A fresh project with the test config and no jobs; servers it started are killed."""
    made = new_project(tmp_path)
    yield made
    made.close()
