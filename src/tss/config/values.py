"""What the config sections share: the base model, duration and size parsing, and the
marks ``scripts/config_docs.py`` reads to show a default in ``docs/configuration.md``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tss.core.timeutil import parse_duration


class Section(BaseModel):
    """A config section: an unknown key is an error, named."""

    model_config = ConfigDict(extra="forbid")


def seconds(value: Any) -> Any:
    """``90``, ``"30s"``, ``"5m"``, ``"1h30m"``: seconds."""
    return parse_duration(value) if isinstance(value, str | int | float) else value


#: ``json_schema_extra`` marks: how ``docs/configuration.md`` shows a default
SECONDS: dict[str, Any] = {"unit": "seconds"}
BYTES: dict[str, Any] = {"unit": "bytes"}


def shown(text: str, **more: Any) -> dict[str, Any]:
    """A default the docs show as ``text`` (the model's own is computed at run time)."""
    return {"shown": text, **more}


def byte_size(value: Any) -> Any:
    """``1 MiB``, ``512k``, ``2MB`` or a plain number of bytes."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower().replace(" ", "")
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 1000, "mb": 10**6}
    units |= {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    for unit, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return int(float(text[: -len(unit)]) * factor)
    return value
