"""The ``dashboard:`` section: what the web dashboard shows and how it looks."""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tss.config.values import SECONDS, Section, seconds, shown

#: the dashboard's pages, in menu order
DASHBOARD_PAGES = (
    "overview", "jobs", "runs", "flows", "timeline", "upcoming", "workers", "dead-letters",
    "alerts", "audit",
)  # fmt: skip
#: columns the Jobs table can show, in order
JOB_COLUMNS = ("name", "type", "schedule", "next_run", "last_state", "success_rate", "pool")
#: columns the Runs table can show, in order
RUN_COLUMNS = ("id", "job", "state", "trigger", "attempt", "created", "duration", "worker")
_COLOUR = r"^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$"


def _colour(value: Any) -> Any:
    if value is not None and not (isinstance(value, str) and re.fullmatch(_COLOUR, value)):
        raise ValueError(f"{value!r} is not a colour: use #rgb or #rrggbb, e.g. '#1f6feb'")
    return value


class ThemeConfig(Section):
    """The dashboard's look: a base (``light``, ``dark`` or ``auto``, the browser's
    preference) and colours over it (``#rgb`` or ``#rrggbb``). A bare string is a base."""

    base: Literal["light", "dark", "auto"] = Field(
        "auto", description="`light`, `dark` or `auto` (the browser's preference)"
    )
    background: str | None = Field(None, description="the page background")
    surface: str | None = Field(None, description="the header, cards, tables and buttons")
    text: str | None = Field(None, description="body text")
    muted: str | None = Field(None, description="secondary text and labels")
    accent: str | None = Field(None, description="links, focus rings and selected items")
    border: str | None = Field(None, description="lines and frames")
    success: str | None = Field(None, description="what went well (succeeded runs)")
    failure: str | None = Field(None, description="failures and errors")
    warning: str | None = Field(None, description="warnings")

    _colours = field_validator(
        "background", "surface", "text", "muted", "accent", "border", "success", "failure",
        "warning", mode="before",
    )(_colour)  # fmt: skip

    @model_validator(mode="before")
    @classmethod
    def _bare_base(cls, value: Any) -> Any:
        return {"base": value} if isinstance(value, str) else value

    def colours(self) -> dict[str, str]:
        """The colours set, by name."""
        return {k: v for k, v in self.model_dump(exclude={"base"}).items() if v is not None}


class DashboardConfig(Section):
    """The web dashboard at ``/dashboard``."""

    enabled: bool = Field(
        True, description="serve the dashboard at `/dashboard` with the API (`false`: 404)"
    )
    title: str = Field(
        "TSS",
        min_length=1,
        max_length=80,
        description="shown in the header and the window title (1-80 characters)",
    )
    theme: ThemeConfig = Field(
        default_factory=ThemeConfig,
        description="`light`, `dark`, `auto` (follows the browser's preference), or a mapping "
        '`{base: light|dark|auto, <colour>: "#rrggbb", ...}` with colours `background`, '
        "`surface`, `text`, `muted`, `accent`, `border`, `success`, `failure`, `warning` "
        "(`#rgb` or `#rrggbb`)",
        json_schema_extra=shown("`auto`"),
    )
    timezone: str = Field(
        "browser",
        description="the zone times are shown in (UTC is always shown beside it): `browser` "
        "(the viewer's own) or an IANA name such as `Europe/Paris`",
    )
    refresh: Literal["live", "poll", "off"] = Field(
        "live",
        description="`live`: pages follow the event stream and update within a second; "
        "`poll`: they reload their data every `refresh_interval`; `off`: only when the "
        "viewer reloads",
    )
    refresh_interval: float = Field(
        10.0,
        ge=1,
        le=3600,
        description="the poll period for `refresh: poll` (1s to 1h)",
        json_schema_extra=SECONDS,
    )
    pages: list[str] = Field(
        default_factory=lambda: list(DASHBOARD_PAGES),
        min_length=1,
        description="which pages the menu offers, in any order: "
        + ", ".join(f"`{p}`" for p in DASHBOARD_PAGES)
        + " (a job's and a run's own page go with `jobs` and `runs`)",
        json_schema_extra=shown("all"),
    )
    job_columns: list[str] = Field(
        default_factory=lambda: list(JOB_COLUMNS),
        min_length=1,
        description="columns of the Jobs table, in order: "
        + ", ".join(f"`{c}`" for c in JOB_COLUMNS),
        json_schema_extra=shown("all"),
    )
    run_columns: list[str] = Field(
        default_factory=lambda: list(RUN_COLUMNS),
        min_length=1,
        description="columns of the Runs table, in order: "
        + ", ".join(f"`{c}`" for c in RUN_COLUMNS),
        json_schema_extra=shown("all"),
    )
    page_size: int = Field(
        50,
        ge=10,
        le=500,
        description="rows per page of Jobs, Runs, Dead letters and Alerts (10-500)",
    )
    session_ttl: float = Field(
        12 * 3600.0,
        ge=60,
        le=90 * 86400,
        description="how long a login lasts (1 minute to 90 days); enforced by the server, "
        "which keeps each session in the store",
        json_schema_extra=SECONDS,
    )

    _durations = field_validator("refresh_interval", "session_ttl", mode="before")(seconds)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "browser":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris', "
                    "or 'browser')"
                ) from None
        return value

    @field_validator("pages", "job_columns", "run_columns")
    @classmethod
    def _known(cls, value: list[str], info: ValidationInfo) -> list[str]:
        allowed = {"pages": DASHBOARD_PAGES, "job_columns": JOB_COLUMNS}.get(
            info.field_name or "", RUN_COLUMNS
        )
        for item in value:
            if item not in allowed:
                raise ValueError(f"unknown {item!r}: choose from {', '.join(allowed)}")
        return list(dict.fromkeys(value))
