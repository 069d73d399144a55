"""Run-time params never change what executes (security review, findings 1 and 8).

A job lists what a run may override (``overridable``); nothing else can change, for any
role, through the API, the client, retry or a flow; and no job may make its command,
function, environment or directory overridable.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest

from tests.api.live import LiveAPI
from tests.api.test_bad_input import snapshot

J = "/api/v1/jobs"


@pytest.fixture(scope="module", autouse=True)
def jobs(admin: httpx.Client) -> None:
    for job in (
        {"name": "ov-sh", "type": "shell", "params": {"argv": ["echo", "hello"]}},
        {"name": "ov-py", "type": "python",
         "params": {"function": "api_tasks:greet", "kwargs": {"name": "job", "times": 1}},
         "overridable": ["kwargs.name"]},
    ):  # fmt: skip
        made = admin.post(J, json=job)
        assert made.status_code == 201, made.text


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("ov-sh", {"argv": ["sh", "-c", "id > pwned.txt"]}, "params.argv"),
    ("ov-sh", {"env": {"PATH": "/tmp/evil"}}, "params.env"),
    ("ov-sh", {"env": {"LD_PRELOAD": "/tmp/evil.so"}}, "params.env"),
    ("ov-sh", {"cwd": "/"}, "params.cwd"),
    ("ov-sh", {"inherit_env": True}, "params.inherit_env"),
    ("ov-py", {"function": "os:system", "args": ["id > pwned.txt"]}, "params.function"),
    ("ov-py", {"args": ["x"]}, "params.args"),
    ("ov-py", {"kwargs": {"times": 1000}}, "params.kwargs.times"),
    ("ov-py", {"kwargs.name": "dotted key"}, "params.kwargs.name"),
]


@pytest.mark.parametrize("role", ["operator", "admin"])
@pytest.mark.parametrize(("job", "params", "field"), HOSTILE,
                         ids=[f"{j}-{f}" for j, _, f in HOSTILE])  # fmt: skip
def test_a_run_cannot_change_what_executes(
    api: LiveAPI, tokens: dict[str, str], role: str, job: str, params: dict[str, Any], field: str
) -> None:
    before = snapshot(api)
    with api.client(tokens[role]) as client:
        response = client.post(f"{J}/{job}/runs", json={"params": params})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert "overridable" in error["message"] or "override" in error["message"]
    assert snapshot(api) == before


def test_an_overridable_param_changes_and_the_rest_stays(
    api: LiveAPI, tokens: dict[str, str]
) -> None:
    with api.client(tokens["operator"]) as client:
        made = client.post(f"{J}/ov-py/runs", json={"params": {"kwargs": {"name": "run"}}})
    assert made.status_code == 201, made.text
    assert made.json()["params"] == {
        "function": "api_tasks:greet",
        "kwargs": {"name": "run", "times": 1},
    }


def test_the_api_never_imports_a_module_named_in_a_request(
    api: LiveAPI, admin: httpx.Client, tokens: dict[str, str]
) -> None:
    assert "import_probe" not in sys.modules
    with api.client(tokens["operator"]) as client:
        refused = client.post(f"{J}/ov-py/runs", json={"params": {"function": "import_probe:main"}})
    assert refused.status_code == 422
    # Even an admin's definition is checked for shape only; the worker imports it.
    made = admin.post(J, json={"name": "ov-probe", "type": "python",
                               "params": {"function": "import_probe:main"}})  # fmt: skip
    assert made.status_code == 201, made.text
    bad = admin.post(J, json={"name": "ov-bad", "type": "python",
                              "params": {"function": "not a module:main"}})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "params.function"
    assert "import_probe" not in sys.modules
