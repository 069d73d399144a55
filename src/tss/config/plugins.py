"""The ``task_plugins`` key: task types loaded by the config, beside those installed.

Each item is a class by module path (``"mypkg.tasks:EmailTask"``), or a mapping that names
a class or an installed entry point and may give the plugin its own ``config``::

    task_plugins:
      - "mypkg.tasks:EmailTask"
      - {class: "mypkg.tasks:SmsTask", config: {gateway: "https://sms.example"}}
      - {entry_point: checksum, config: {root: /srv/data}}

Only the shape is checked here, when the config is read; importing and constructing the
plugins is :func:`tss.tasks.plugins.load_task_types`, when a node starts.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from tss.config.values import Section

#: ``package.module:Attribute`` (the attribute may be dotted: ``module:Outer.Inner``)
CLASS_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class TaskPluginConfig(Section):
    """One item of ``task_plugins``: where the task type comes from, and its config."""

    # ``class`` is the key users write; ``class_`` only because ``class`` is a keyword.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, frozen=True
    )

    class_: str | None = Field(
        None,
        alias="class",
        description="a TaskType subclass by module path: `mypkg.tasks:EmailTask` (the "
        "module is imported from `python_path`, the working directory, or the installed "
        "packages)",
    )
    entry_point: str | None = Field(
        None,
        description="the name of an installed entry point in the group `tss.task_types`",
    )
    config: dict[str, Any] | None = Field(
        None,
        description="given to the class as `config=` when it is constructed (without it, "
        "the class is constructed with no arguments)",
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_path(cls, value: Any) -> Any:
        # The short form: a bare string is a class path.
        return {"class": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> TaskPluginConfig:
        if (self.class_ is None) == (self.entry_point is None):
            raise ValueError(
                "give either class (a module path such as 'mypkg.tasks:EmailTask') or "
                "entry_point (an installed entry point's name), not both or neither"
            )
        if self.class_ is not None and not CLASS_PATH.fullmatch(self.class_):
            raise ValueError(
                f"{self.class_!r} is not a class path: write 'package.module:ClassName'"
            )
        if self.entry_point is not None and not self.entry_point.strip():
            raise ValueError("entry_point: give the entry point's name")
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Shown (``tss config show``) as a user writes it: the keys given, no nulls.
        return {k: v for k, v in handler(self).items() if v is not None}

    @property
    def label(self) -> str:
        """How messages name this plugin: its class path, or ``entry point 'name'``."""
        return self.class_ if self.class_ is not None else f"entry point {self.entry_point!r}"
