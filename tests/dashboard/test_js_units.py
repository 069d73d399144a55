"""The dashboard scripts' pure helpers under ``node --test`` (tests/js/), and the sample
config those tests load standing for what the server writes into the page."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.servers import missing
from tss.config import Settings
from tss.dashboard.pages import client_config

JS_TESTS = Path(__file__).resolve().parents[1] / "js"


def test_the_sample_config_is_what_the_server_writes() -> None:
    sample = json.loads((JS_TESTS / "sample-config.json").read_text())
    served = client_config(Settings())
    assert sample == {**served, "version": sample["version"]}, (
        "tests/js/sample-config.json differs from pages.client_config(Settings()): "
        "write it again from there (with any version)"
    )


def test_the_scripts_pure_helpers_pass_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        missing("node is missing: install Node.js 18 or newer to run the dashboard's script tests")
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.js"))
    assert files, f"no *.test.js in {JS_TESTS}"
    done = subprocess.run(
        [node, "--test", *files], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
