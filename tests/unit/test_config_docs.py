"""docs/configuration.md's key tables are generated from the config models: they match."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel

from tss.config import Settings

REPO = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_docs", REPO / "scripts/config_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_committed_tables_are_the_generated_ones() -> None:
    script = _script()
    doc = (REPO / "docs/configuration.md").read_text(encoding="utf-8")
    assert script.render(doc) == doc, "docs/configuration.md is stale: run scripts/config_docs.py"


def test_every_key_has_a_meaning_and_appears_in_the_doc() -> None:
    script = _script()
    doc = (REPO / "docs/configuration.md").read_text(encoding="utf-8")
    for key, info in script.keys(Settings):
        assert info.description, f"{key} has no description"
        shown = (
            f"`{key}.*`"
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
            else f"`{key}`"
        )
        assert shown in doc, key


def test_the_example_config_shows_every_key() -> None:
    example = yaml.safe_load((REPO / "examples/config.yaml").read_text(encoding="utf-8"))
    for key, _ in _script().keys(Settings):
        node: Any = example
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"examples/config.yaml lacks {key}"
            node = node[part]
    shown, default = Settings(**example), Settings()
    for section in (
        "store",
        "broker",
        "scheduler",
        "worker",
        "http",
        "logging",
        "server",
        "api",
        "dashboard",
    ):
        assert getattr(shown, section) == getattr(default, section), section  # "its default"
