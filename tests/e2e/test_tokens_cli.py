"""``tss token create|list|revoke`` on the config's store: the real console script, SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .conftest import Project, new_project


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = new_project(tmp_path_factory.mktemp("tokens"))
    yield project
    project.close()


def test_create_prints_the_token_once_and_lists_it_without_the_secret(shared: Project) -> None:
    made = shared.ok("token", "create", "--name", "ci-deploy", "--role", "operator")
    token = made.out.strip()
    assert made.out == token + "\n" and token.startswith("tss_"), made
    assert "will not be shown again" in made.err and "ci-deploy" in made.err
    assert token not in made.err
    secret = token.removeprefix("tss_").partition("_")[2]  # the secret may hold "_"

    table = shared.ok("token", "list").out
    assert "ci-deploy" in table and "operator" in table and "never" in table
    listed = shared.ok("token", "list", "--json").out
    assert secret not in listed and "secret" not in listed and '"token"' not in listed
    (row,) = [t for t in json.loads(listed) if t["name"] == "ci-deploy"]
    assert row["role"] == "operator" and row["revoked_at"] is None
    assert row["expires_at"] is None and row["id"] in token
    assert set(row) == {
        "id", "name", "role", "created_at", "expires_at", "revoked_at", "last_used_at"
    }  # fmt: skip


def test_create_json_with_expiry(shared: Project) -> None:
    made = shared.json(
        "token", "create", "--name", "short-lived", "--role", "viewer", "--expires", "30d"
    )
    assert made["name"] == "short-lived" and made["role"] == "viewer"
    assert made["token"].startswith(f"tss_{made['id']}_")
    assert made["expires_at"] > made["created_at"]
    (row,) = [t for t in shared.json("token", "list") if t["id"] == made["id"]]
    assert row["expires_at"] == made["expires_at"]
    assert made["token"] not in json.dumps(row)


def test_revoke_by_name(shared: Project) -> None:
    shared.ok("token", "create", "--name", "doomed-token", "--role", "admin")
    assert shared.ok("token", "revoke", "doomed-token").out.strip() == "revoked doomed-token"
    (row,) = [t for t in shared.json("token", "list") if t["name"] == "doomed-token"]
    assert row["revoked_at"] is not None
    line = next(x for x in shared.ok("token", "list").out.splitlines() if "doomed-token" in x)
    assert row["revoked_at"][:10] in line


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--name", "x", "--role", "superuser"], "--role"),
        (["--name", "has space", "--role", "viewer"], "--name"),
        (["--name", "x", "--role", "viewer", "--expires", "soon"], "--expires"),
        (["--name", "x", "--role", "viewer", "--expires", "0"], "--expires"),
    ],
)
def test_bad_input_exits_2_naming_the_field(shared: Project, args: list[str], field: str) -> None:
    result = shared.tss("token", "create", *args)
    assert result.code == 2, result
    assert result.out == ""
    (line,) = result.err.splitlines()
    assert line.startswith(f"error: {field}: "), line


def test_bad_role_names_the_roles(shared: Project) -> None:
    result = shared.tss("token", "create", "--name", "x", "--role", "superuser")
    assert result.code == 2
    assert "role" in result.err and "viewer, operator, admin" in result.err


def test_revoke_unknown_exits_2(shared: Project) -> None:
    shared.ok("db", "upgrade")  # a store to look in: revoke creates none
    result = shared.tss("token", "revoke", "no-such-token")
    assert result.code == 2, result
    (line,) = result.err.splitlines()
    assert line.startswith("error: ") and "no-such-token" in line
