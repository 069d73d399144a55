"""The public surface: every exported name resolves, and nothing private leaks."""

from __future__ import annotations

import subprocess
import sys

import tss


def test_every_exported_name_resolves() -> None:
    for name in tss.__all__:
        value = getattr(tss, name)
        assert value is not None
        if name != "__version__":
            assert getattr(value, "__module__", "").startswith("tss.")


def test_the_lazy_table_and_all_agree() -> None:
    assert set(tss.__all__) - {"__version__"} == set(tss._EXPORTS)


def test_exported_names_are_public() -> None:
    assert all(not name.startswith("_") or name == "__version__" for name in tss.__all__)
    assert sorted(dir(tss)) == sorted(tss.__all__)


def test_errors_share_one_root() -> None:
    for name in tss.__all__:
        value = getattr(tss, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, tss.TSSError)


def test_importing_tss_is_cheap() -> None:
    # A child process running one task imports tss: it must not drag in the database layer.
    code = "import sys, tss; print('sqlalchemy' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_client_loads_neither_the_server_nor_the_service() -> None:
    # A script that only talks to a server must not pay for FastAPI, the service layer
    # (store, scheduler, worker) or the route modules.
    code = (
        "import sys, tss; from tss import Client, AsyncClient; "
        "print(sorted(m for m in sys.modules if m in ('fastapi', 'starlette', 'uvicorn', "
        "'sqlalchemy', 'tss.service', 'tss.web', 'tss.dashboard') "
        "or m.startswith(('tss.api.routes_', 'tss.service.', 'tss.store', 'tss.scheduler', "
        "'tss.worker'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_api_knows_nothing_of_the_dashboard() -> None:
    code = "import sys, tss.api.server; print('tss.dashboard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_web_faces_reach_the_store_only_through_the_service() -> None:
    # The API and the dashboard call the node's services (tss.service), never its store:
    # a rule written in a route is a rule the CLI cannot share.
    import ast
    from pathlib import Path

    root = Path(tss.__file__).parent
    found = []
    for face in ("api", "dashboard"):
        for path in sorted((root / face).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr == "store":
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert found == []
