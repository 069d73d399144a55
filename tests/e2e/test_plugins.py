"""Task type plugins as a user meets them: the example plugin package installed for real
(pip, no network) and found through its entry point; the same class loaded by
``task_plugins`` from a local ``plugins/`` folder without installing it; and a wrong plugin
stopping ``tss config check``, ``tss server`` and ``tss execute-job`` with the key named.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import TEST_CONFIG, Project, new_project

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples/plugins/tss-example-plugin"
DATA = b"the quick brown fox\n"
DIGEST = hashlib.sha256(DATA).hexdigest()
JOBS = f"""\
jobs:
  - name: sum-it
    type: checksum
    params: {{path: data.txt, expect: "{DIGEST}"}}
  - name: wrong-sum
    type: checksum
    params: {{text: "not the fox", expect: "{DIGEST}"}}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed with pip into a folder of its own (to be put on
    ``PYTHONPATH``). Built from a copy: the build writes its metadata beside the source."""
    root = tmp_path_factory.mktemp("plugin")
    source = root / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run(
        [*pip, *offline, "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert any(target.glob("tss_example_plugin-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = new_project(tmp_path, files={"jobs.yaml": JOBS})
    (tmp_path / "data.txt").write_bytes(DATA)
    yield made
    made.close()


def test_an_installed_plugin_is_found_through_its_entry_point(project: Project, site: Path) -> None:
    unknown = project.tss("job", "apply", "-f", "jobs.yaml")
    assert unknown.code == 2 and "unknown task type 'checksum'" in unknown.err, unknown

    project.env["PYTHONPATH"] = str(site)
    project.ok("job", "apply", "-f", "jobs.yaml")
    run = json.loads(project.ok("execute-job", "sum-it", "--json").out)
    assert run["state"] == "succeeded"
    assert run["result"] == {"algorithm": "sha256", "digest": DIGEST, "size": len(DATA)}

    wrong = project.tss("execute-job", "wrong-sum")
    assert wrong.code == 1, wrong
    assert "ChecksumMismatch" in wrong.out and f"not {DIGEST}" in wrong.out

    # Named under task_plugins, the installed entry point gets its config, checked at start.
    project.write(
        "config.yaml",
        TEST_CONFIG + "task_plugins: [{entry_point: checksum, config: {colour: red}}]\n",
    )
    refused = project.tss("config", "check")
    assert refused.code == 2, refused
    assert refused.err.startswith(
        "error: config.yaml: task_plugins[0].config.colour (entry point 'checksum'): unknown key"
    )


def test_a_plugin_in_a_local_folder_runs_on_the_server_without_an_install(
    project: Project,
) -> None:
    # The layout the TSSv5 document promises: plugins/ beside config.yaml.
    shutil.copytree(EXAMPLE / "src/tss_example_plugin", project.root / "plugins/tss_example_plugin")
    (project.root / "files").mkdir()
    (project.root / "data.txt").rename(project.root / "files/data.txt")
    project.write(
        "config.yaml",
        TEST_CONFIG.replace("python_path: [jobs]", "python_path: [jobs, plugins]")
        + "task_plugins:\n"
        + '  - {class: "tss_example_plugin:ChecksumTask", config: {root: files}}\n'
        + "job_files: [jobs.yaml]\n",
    )
    assert project.ok("config", "check").out.strip() == "config OK: 2 jobs"
    server = project.start("server")
    project.wait_for_log("press Ctrl+C")
    done = project.tss("job", "run", "sum-it", "--wait", "--timeout", "30")
    assert done.code == 0, f"{done}\n{(project.root / 'server.log').read_text()}"
    run = project.json("run", "show", done.out.split()[0])
    assert run["result"]["digest"] == DIGEST
    (worker,) = project.json("workers")
    assert "checksum" in worker["task_types"]
    assert project.stop(server) == 0


@pytest.mark.parametrize("command", [("config", "check"), ("server",), ("execute-job", "x")])
def test_a_plugin_that_cannot_load_stops_the_command(
    project: Project, command: tuple[str, ...]
) -> None:
    project.write("config.yaml", TEST_CONFIG + 'task_plugins: ["plugins_gone.tasks:Email"]\n')
    result = project.tss(*command, timeout=30)
    assert result.code == 2, result
    assert result.err == (
        "error: config.yaml: task_plugins[0] (plugins_gone.tasks:Email): no module named "
        "'plugins_gone' (looked in python_path, the working directory and the installed "
        "packages)\n"
    )
