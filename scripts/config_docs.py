"""Write the key tables of docs/configuration.md from the config models.

Each key's meaning is the ``description`` of its pydantic field (``src/tss/config/``); this
script renders them, with their defaults, between the ``<!-- keys:NAME -->`` and
``<!-- /keys:NAME -->`` marks of the doc, and leaves the rest of the doc as written.

    python scripts/config_docs.py          rewrite the tables in docs/configuration.md
    python scripts/config_docs.py --check  exit 1 if the committed tables are stale
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from tss.config import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
#: sections with a table of their own: the main table points to it with one row
OWN_TABLE = ("dashboard", "alerts")
_MARKS = re.compile(r"(<!-- keys:(\w+) -->\n)(.*?)(<!-- /keys:\2 -->)", re.S)


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _size(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"`{count // size} {unit}`"
    return str(count)


def default_text(info: FieldInfo) -> str:
    """How the doc shows a field's default."""
    extra = _extra(info)
    if "shown" in extra:
        return str(extra["shown"])
    value = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if extra.get("unit") == "seconds":
        return _duration(float(value))
    if extra.get("unit") == "bytes":
        return _size(int(value))
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, str):
        return f"`{value}`"
    return str(value)


def keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, FieldInfo]]:
    """Every documented key of ``model``, dotted, in the order the model declares them; a
    section is walked into unless its field has a description of its own (one row)."""
    out: list[tuple[str, FieldInfo]] = []
    for name, info in model.model_fields.items():
        if _extra(info).get("internal"):
            continue
        key = f"{prefix}{name}"
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel) and not info.description:
            out.extend(keys(section, f"{key}."))
        else:
            out.append((key, info))
    return out


def _row(key: str, info: FieldInfo) -> str:
    if not info.description:
        raise SystemExit(f"config key {key} has no description: add one to its Field")
    meaning = info.description.replace("|", "\\|")
    return f"| `{key}` | {default_text(info)} | {meaning} |"


def tables() -> dict[str, str]:
    """The rendered tables by name: ``main`` and one per section in :data:`OWN_TABLE`."""
    head = "| key | default | meaning |\n| --- | --- | --- |\n"
    main: list[str] = []
    own: dict[str, list[str]] = {name: [] for name in OWN_TABLE}
    for key, info in keys(Settings):
        section = key.split(".", 1)[0]
        if section in own and "." not in key:
            main.append(_row(f"{key}.*", info))
            sub = Settings.model_fields[section].annotation
            assert isinstance(sub, type) and issubclass(sub, BaseModel)
            own[section] = [_row(k, i) for k, i in keys(sub, f"{section}.")]
        else:
            main.append(_row(key, info))
    rendered = {"main": head + "\n".join(main) + "\n"}
    rendered |= {name: head + "\n".join(rows) + "\n" for name, rows in own.items()}
    return rendered


def render(text: str) -> str:
    """``text`` (the doc) with its marked tables rewritten."""
    wanted = tables()
    seen: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in wanted:
            raise SystemExit(f"{DOC.name}: unknown table keys:{name}")
        seen.add(name)
        return match.group(1) + wanted[name] + match.group(4)

    out = _MARKS.sub(fill, text)
    if missing := set(wanted) - seen:
        raise SystemExit(f"{DOC.name}: no <!-- keys:NAME --> marks for {sorted(missing)}")
    return out


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    fresh = render(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{DOC} is stale: run python scripts/config_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
