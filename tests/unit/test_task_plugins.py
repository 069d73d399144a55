"""``task_plugins``: task types the config names, loaded from a folder on ``python_path`` or
from an installed entry point, and the start-up error each wrong plugin gives.

The plugins are real modules written to a temporary folder; "installed" entry points are a
real ``.dist-info`` folder on ``sys.path``, which is all ``importlib.metadata`` reads.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tss.config import Settings, load_config, validate_settings
from tss.errors import ConfigError
from tss.service import TSSApp
from tss.tasks.plugins import load_task_types

_COUNTER = itertools.count()

PLUGIN = """
from tss.errors import ValidationError
from tss.tasks import TaskType


class Greet(TaskType):
    name = "{name}"

    def __init__(self, config=None):
        config = config or {{}}
        if "colour" in config:
            raise ValidationError("colours are not supported", field="colour")
        self.config = config

    def validate(self, params):
        return params

    async def execute(self, ctx):
        return self.config.get("greeting", "hello")


class NoConfig(TaskType):
    name = "{name}-plain"

    def validate(self, params):
        return params

    async def execute(self, ctx):
        return None


class Abstract(TaskType):
    name = "{name}-abstract"


class Nameless(NoConfig):
    name = ""


class Exploding(NoConfig):
    name = "{name}-exploding"

    def __init__(self):
        raise RuntimeError("no licence key")


def not_a_class():
    return NoConfig()
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A module of plugin classes in ``tmp_path/plugins`` under a name unique to the test;
    ``sys.path`` and the module are forgotten afterwards."""
    module = f"tss_test_plugin_{next(_COUNTER)}"
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{module}.py").write_text(PLUGIN.format(name=module.replace("_", "-")))
    (folder / f"{module}_broken.py").write_text("1 / 0\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield module, folder
    for name in [m for m in sys.modules if m.startswith(module)]:
        del sys.modules[name]


def settings(folder: Path, *items: Any) -> Settings:
    """A config file beside ``folder`` whose ``python_path`` is it (relative, as users write
    it), with ``items`` as its ``task_plugins``."""
    data = {"python_path": [folder.name], "task_plugins": list(items)}
    return validate_settings(Settings, {**data, "source": str(folder.parent / "config.yaml")})


def refusal(config: Settings) -> str:
    with pytest.raises(ConfigError) as caught:
        load_task_types(config)
    return caught.value.message


def test_a_class_on_python_path_is_loaded_with_its_config(plugins: tuple[str, Path]) -> None:
    module, folder = plugins
    config = settings(
        folder,
        f"{module}:NoConfig",
        {"class": f"{module}:Greet", "config": {"greeting": "bonjour"}},
    )
    registry = load_task_types(config)
    prefix = module.replace("_", "-")
    assert {"python", "shell", "noop", prefix, f"{prefix}-plain"} <= set(registry.names())
    greet: Any = registry.get(prefix)
    assert greet.config == {"greeting": "bonjour"}


def test_a_node_loads_them(plugins: tuple[str, Path]) -> None:
    module, folder = plugins
    config = settings(folder, f"{module}:NoConfig").model_copy(
        update={"store": Settings().store.model_copy(update={"url": "memory://"})}
    )
    assert f"{module.replace('_', '-')}-plain" in TSSApp(config).registry.names()


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("tss_no_such_module:Greet", "no module named 'tss_no_such_module'"),
        ("{module}:Missing", "has no attribute 'Missing'"),
        ("{module}_broken:Greet", "importing {module}_broken failed: ZeroDivisionError"),
        ("{module}:not_a_class", "not a subclass of tss.tasks.TaskType but a function"),
        ("tss.errors:ConfigError", "not a subclass of tss.tasks.TaskType but another class"),
        ("{module}:Abstract", "does not implement execute, validate"),
        ("{module}:Nameless", "no usable task type name ('')"),
        ("{module}:Exploding", "constructing Exploding failed: RuntimeError: no licence key"),
        ({"class": "{module}:NoConfig", "config": {}}, "constructor does not take it"),
        ("tss.tasks.shell:ShellTask", "its task type name 'shell' is a built-in type"),
        ("{module}:Greet", "is already given by task_plugins[0]"),
        ({"entry_point": "tss-no-such-plugin"}, "no installed package declares an entry point"),
    ],
)
def test_each_wrong_plugin_stops_the_start_naming_its_key(
    plugins: tuple[str, Path], item: Any, words: str
) -> None:
    module, folder = plugins
    if isinstance(item, str):
        item = item.format(module=module)
    else:
        item = {k: v.format(module=module) if isinstance(v, str) else v for k, v in item.items()}
    message = refusal(settings(folder, f"{module}:Greet", item))
    assert message.startswith(f"{folder.parent / 'config.yaml'}: task_plugins[1] ("), message
    assert words.format(module=module) in message, message


def test_a_config_the_plugin_refuses_is_named_down_to_its_key(
    plugins: tuple[str, Path],
) -> None:
    module, folder = plugins
    config = settings(folder, {"class": f"{module}:Greet", "config": {"colour": "red"}})
    with pytest.raises(ConfigError) as caught:
        load_task_types(config)
    assert caught.value.field == "task_plugins[0].config.colour"
    assert "colours are not supported" in caught.value.message


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"class": "a:B", "entry_point": "b"}, "task_plugins[0]: give either class"),
        ({}, "task_plugins[0]: give either class"),
        ("just-a-name", "task_plugins[0]: 'just-a-name' is not a class path"),
        ({"clas": "a:B"}, "task_plugins[0].clas: unknown key"),
        ({"class": "a:B", "config": [1]}, "task_plugins[0].config: Input should be a valid"),
    ],
)
def test_a_malformed_item_is_refused_when_the_config_is_read(
    tmp_path: Path, item: Any, words: str
) -> None:
    (tmp_path / "config.yaml").write_text(f"task_plugins: [{item!r}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(tmp_path / "config.yaml"), environ={})
    assert words in caught.value.message


def test_the_key_is_read_from_a_file_as_tssv5_writes_it(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "task_plugins:\n"
        '  - "mypkg.tasks:EmailTask"\n'
        "  - {entry_point: checksum, config: {root: /srv}}\n"
    )
    config = load_config(str(tmp_path / "config.yaml"), environ={})
    assert [p.label for p in config.task_plugins] == [
        "mypkg.tasks:EmailTask",
        "entry point 'checksum'",
    ]
    assert config.task_plugins[1].config == {"root": "/srv"}
    dumped = config.model_dump(mode="json", exclude_defaults=True)["task_plugins"]
    assert dumped == [
        {"class": "mypkg.tasks:EmailTask"},
        {"entry_point": "checksum", "config": {"root": "/srv"}},
    ]


# -- installed entry points ----------------------------------------------------------------


def install(site: Path, entries: dict[str, str]) -> None:
    """A distribution in ``site`` declaring ``entries`` in the ``tss.task_types`` group."""
    info = site / f"tss_test_dist_{next(_COUNTER)}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {info.name.split('-')[0]}\nVersion: 1.0\n"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[tss.task_types]\n{lines}")


def test_installed_entry_points_load_and_a_broken_one_is_only_logged(
    plugins: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    module, folder = plugins
    sys.path.insert(0, str(folder))
    prefix = module.replace("_", "-")
    install(folder, {"plain": f"{module}:NoConfig", "broken": f"{module}:Exploding"})
    with caplog.at_level(logging.ERROR, logger="tss.tasks.plugins"):
        registry = load_task_types(Settings())
    assert f"{prefix}-plain" in registry.names()
    assert f"{prefix}-exploding" not in registry.names()
    assert "could not load task type plugin 'broken'" in caplog.text
    assert "no licence key" in caplog.text


def test_an_entry_point_named_in_task_plugins_gets_its_config_and_is_loaded_once(
    plugins: tuple[str, Path],
) -> None:
    module, folder = plugins
    sys.path.insert(0, str(folder))
    install(folder, {"greet": f"{module}:Greet", "broken": f"{module}:Exploding"})
    config = settings(folder, {"entry_point": "greet", "config": {"greeting": "hi"}})
    registry = load_task_types(config)
    greet: Any = registry.get(module.replace("_", "-"))
    assert greet.config == {"greeting": "hi"}
    # The same broken entry point, named in task_plugins, stops the start.
    message = refusal(settings(folder, {"entry_point": "broken"}))
    assert "task_plugins[0] (entry point 'broken'): constructing Exploding failed" in message


def test_an_installed_type_never_replaces_a_built_in(
    plugins: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    module, folder = plugins
    sys.path.insert(0, str(folder))
    (folder / f"{module}_fake.py").write_text(
        f"from {module} import NoConfig\n\nclass FakeShell(NoConfig):\n    name = 'shell'\n"
    )
    install(folder, {"not-shell": f"{module}_fake:FakeShell"})
    with caplog.at_level(logging.WARNING, logger="tss.tasks.plugins"):
        registry = load_task_types(Settings())
    assert type(registry.get("shell")).__module__ == "tss.tasks.shell"
    assert "'not-shell'" in caplog.text and "is not used" in caplog.text


def test_the_python_library_loads_them_too(plugins: tuple[str, Path]) -> None:
    from tss.library import AsyncTaskScheduler, Config

    module, folder = plugins
    path = [str(folder)]
    scheduler = AsyncTaskScheduler(
        Config(store={"url": "memory://"}, python_path=path, task_plugins=[f"{module}:NoConfig"])
    )
    assert f"{module.replace('_', '-')}-plain" in scheduler.app.registry.names()
    with pytest.raises(ConfigError, match=r"^task_plugins\[0\] \(nowhere:X\): no module named"):
        AsyncTaskScheduler(Config(store={"url": "memory://"}, task_plugins=["nowhere:X"]))
