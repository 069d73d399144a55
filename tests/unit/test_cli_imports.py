"""The CLI's layering: imports run downwards only (no circle, no command imports the root
app), and the store is reached through the service alone."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import tss.cli

CLI = Path(tss.cli.__file__).parent


def _module_of(path: Path) -> str:
    parts = path.relative_to(CLI.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _cli_imports(path: Path) -> set[str]:
    """The ``tss.cli`` modules ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tss.cli")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tss.cli"):
            module = node.module or ""
            # `from tss.cli import jobs` names modules; `from tss.cli.x import name` names x.
            if module == "tss.cli":
                found |= {f"tss.cli.{a.name}" for a in node.names}
            else:
                found.add(module)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_of(p): _cli_imports(p) for p in sorted(CLI.rglob("*.py"))}


def test_the_cli_modules_import_no_circle() -> None:
    try:
        tuple(TopologicalSorter(_graph()).static_order())
    except CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_only_the_entry_point_imports_the_root_app() -> None:
    importers = {m for m, imports in _graph().items() if "tss.cli.app" in imports}
    assert importers == {"tss.cli.__main__"}


def _is_settings(node: ast.expr) -> bool:
    """``settings`` or ``something.settings``: the config, whose ``store`` is a URL."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return name == "settings"


def test_the_cli_reaches_the_store_only_through_the_service() -> None:
    # Both modes are one protocol: what the local backend reads, the service reads for the
    # API too. The config's `settings.store` (its URL) is not the store.
    found = [
        f"{path.relative_to(CLI)}:{node.lineno}"
        for path in sorted(CLI.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "store" and not _is_settings(node.value)
    ]
    assert found == []
