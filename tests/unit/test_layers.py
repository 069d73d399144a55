"""The layering rule of docs/architecture.md, read from the import statements of src/tss.

Each layer imports only layers below it (or its own), and no module takes part in an import
circle. Imports under ``if TYPE_CHECKING:`` are annotations only and do not count for the
circle; they still may not point upwards.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tss

SRC = Path(tss.__file__).parent

#: module prefix -> layer, most specific first; a module imports layers <= its own
LAYERS: tuple[tuple[str, int], ...] = (
    ("tss.cli", 6),
    ("tss.library", 4),
    ("tss.web", 5),
    ("tss.api", 4),
    ("tss.dashboard", 4),
    ("tss.client", 4),
    ("tss.calls", 4),
    ("tss.worker_client", 4),
    ("tss.service", 3),
    ("tss.scheduler", 2),
    ("tss.alerts", 2),
    ("tss.worker", 2),
    ("tss.outbox", 2),
    ("tss.tasks", 2),
    ("tss.metrics", 2),
    ("tss.definitions", 2),
    ("tss.tokens", 2),
    ("tss.store", 1),
    ("tss.broker", 1),
    ("tss._redis", 1),
    ("tss.core", 0),
    ("tss.local", 0),
    ("tss.errors", 0),
    ("tss.config", 0),
    ("tss._version", 0),
    ("tss._urls", 0),
    ("tss._yaml", 0),
    ("tss._aio", 0),
    ("tss._secrets", 0),
    ("tss.net", 0),
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise AssertionError(f"{module} has no layer: add it to LAYERS and docs/architecture.md")


def _targets(node: ast.ImportFrom | ast.Import) -> set[str]:
    """The tss modules an import statement loads (``from pkg import sub`` loads ``pkg.sub``;
    the package itself counts only when a name that is not a submodule is taken from it)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name.split(".")[0] == "tss"}
    if node.level or not node.module or node.module.split(".")[0] != "tss":
        return set()
    subs = {f"{node.module}.{alias.name}" for alias in node.names}
    found = subs & MODULES.keys()
    return found | ({node.module} if len(found) < len(node.names) else set())


def _imports(path: Path, *, at_import_time: bool) -> set[str]:
    """What a module imports: everywhere, or only what runs when it is imported (its top
    level, ``try`` blocks included, ``if TYPE_CHECKING`` left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not at_import_time:
        nodes = list(ast.walk(tree))
    else:
        nodes = []
        for statement in tree.body:
            if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
                continue
            nodes.extend(statement.body if isinstance(statement, ast.Try) else [statement])
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found |= _targets(node)
    return found


def test_no_import_points_upwards() -> None:
    upwards = []
    for module, path in sorted(MODULES.items()):
        if module == "tss":  # the lazy public surface sits above everything
            continue
        for target in sorted(_imports(path, at_import_time=False)):
            if target == "tss":
                upwards.append(f"{module} -> tss (import from the module that defines it)")
            elif target in MODULES and _layer(target) > _layer(module):
                upwards.append(f"{module} -> {target}")
    assert not upwards, "imports that point upwards:\n" + "\n".join(upwards)


#: the packages of one backend each; a backend imports its port and the shared code, never
#: another backend, and the shared code imports no backend
BACKENDS = (
    "tss.store.memory",
    "tss.store.sqlite",
    "tss.store.postgres",
    "tss.store.redis",
    "tss.broker.local",
    "tss.broker.store",
    "tss.broker.rabbitmq",
    "tss.broker.redis",
)


def _backend(module: str) -> str | None:
    return next((b for b in BACKENDS if module == b or module.startswith(b + ".")), None)


def test_no_backend_imports_another_and_the_shared_code_imports_none() -> None:
    crossing = []
    for module, path in sorted(MODULES.items()):
        if not module.startswith(("tss.store", "tss.broker")):
            continue
        own = _backend(module)
        for target in sorted(_imports(path, at_import_time=False)):
            other = _backend(target)
            if other is not None and other != own:
                crossing.append(f"{module} -> {target}")
    assert not crossing, "store/broker modules that import another backend:\n" + "\n".join(crossing)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module -> modules it imports): its strongly
    connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    return circles


def test_no_import_circle() -> None:
    graph = {
        module: {t for t in _imports(path, at_import_time=True) if t in MODULES}
        for module, path in MODULES.items()
    }
    assert not _circles(graph), f"import circles: {_circles(graph)}"


def test_the_checks_are_not_vacuous() -> None:
    """A circle is found where there is one, the module list is complete, and a known
    downward import (service -> scheduler) is read, so one the other way would be too."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
    assert len(MODULES) > 100
    assert "tss.scheduler.scheduler" in _imports(MODULES["tss.service.node"], at_import_time=False)
    assert _layer("tss.service.node") > _layer("tss.scheduler.scheduler")
