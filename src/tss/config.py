"""Configuration: ``config.yaml``, then ``override.yaml`` beside it, then ``TSS_*`` variables.

Nested keys in the environment use ``__`` (``TSS_WORKER__CONCURRENCY=16``). The aliases
``TSS_DATABASE_URL`` (store.url), ``TSS_RABBITMQ_URL`` (broker.url), ``TSS_REDIS_URL``
(redis.url) and ``TSS_ADMIN_TOKEN`` (api.admin_token) are honoured. An invalid config
stops with the key and the reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tss._yaml import MAX_YAML_BYTES, AliasError, load_yaml
from tss.core.merge import deep_merge
from tss.core.timeutil import parse_duration
from tss.errors import ConfigError

CONFIG_CANDIDATES = ("config.yaml", "configs/config.yaml")
_ALIASES = {
    "TSS_DATABASE_URL": ("store", "url"),
    "TSS_RABBITMQ_URL": ("broker", "url"),
    "TSS_REDIS_URL": ("redis", "url"),
    "TSS_ADMIN_TOKEN": ("api", "admin_token"),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _seconds(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str | int | float) else value


class StoreConfig(_Section):
    url: str = "sqlite:///tss.db"


class BrokerConfig(_Section):
    url: str = "local://"


class RedisConfig(_Section):
    url: str = "redis://127.0.0.1:6379/0"


class SchedulerConfig(_Section):
    id: str | None = None
    enabled: bool = True
    batch_size: int = Field(10000, ge=1, le=10000)
    max_sleep: float = Field(1.0, gt=0, le=60)
    wake_jitter: float = Field(0.005, ge=0, le=5)
    reap_interval: float = Field(1.0, gt=0)
    reconcile_interval: float = Field(1.0, gt=0)
    unpublished_after: float = Field(1.0, ge=0)
    republish_after: float = Field(60.0, gt=0)
    dead_worker_after: float = Field(30.0, gt=0)
    timeout_grace: float = Field(30.0, ge=0)
    max_lost: int = Field(3, ge=0, le=1000)
    lookahead: float = Field(5.0, ge=0, le=60)
    announce_ahead: float = Field(2.0, ge=0, le=60)
    #: fail a queued run no live worker can take after this long; 0 or null: never
    unrunnable_after: float | None = Field(600.0, ge=0)

    _durations = field_validator(
        "lookahead",
        "announce_ahead",
        "max_sleep",
        "reap_interval",
        "reconcile_interval",
        "unpublished_after",
        "republish_after",
        "dead_worker_after",
        "timeout_grace",
        "unrunnable_after",
        mode="before",
    )(_seconds)


class WorkerConfig(_Section):
    id: str | None = None
    enabled: bool = True
    pools: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    concurrency: int = Field(8, ge=1, le=10000)
    lease: float = Field(30.0, gt=0)
    heartbeat_interval: float = Field(2.0, gt=0)
    grace_period: float = Field(30.0, ge=0)
    log_limit: int = Field(1 << 20, ge=1024)
    result_limit: int = Field(64 << 10, ge=256)
    cores: float | None = Field(None, gt=0)
    memory: int | None = Field(None, gt=0)

    _durations = field_validator("lease", "heartbeat_interval", "grace_period", mode="before")(
        _seconds
    )


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    tls_cert: str | None = None
    tls_key: str | None = None


def _bytes(value: Any) -> Any:
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


class ApiConfig(_Section):
    #: off only while the server listens on loopback
    auth: bool = True
    #: a first admin token (``TSS_ADMIN_TOKEN``); compared in constant time, never stored
    admin_token: str | None = Field(None, min_length=16)
    max_body: int = Field(1 << 20, ge=1024)
    cors_origins: list[str] = Field(default_factory=list)
    docs: bool = True
    #: seconds a client has to send a request's line and headers (slowloris)
    header_timeout: float = Field(10.0, gt=0, le=3600)

    _size = field_validator("max_body", mode="before")(_bytes)
    _header_timeout = field_validator("header_timeout", mode="before")(_seconds)


#: the dashboard's pages, in menu order
DASHBOARD_PAGES = ("overview", "jobs", "runs", "flows", "timeline", "workers", "dead-letters")
#: columns the Jobs table can show, in order
JOB_COLUMNS = ("name", "type", "schedule", "next_run", "last_state", "success_rate", "pool")
#: columns the Runs table can show, in order
RUN_COLUMNS = ("id", "job", "state", "trigger", "attempt", "created", "duration", "worker")
_COLOUR = r"^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$"


def _colour(value: Any) -> Any:
    if value is not None and not (isinstance(value, str) and re.fullmatch(_COLOUR, value)):
        raise ValueError(f"{value!r} is not a colour: use #rgb or #rrggbb, e.g. '#1f6feb'")
    return value


class ThemeConfig(_Section):
    """The dashboard's look: a base (``light``, ``dark`` or ``auto``, the browser's
    preference) and colours over it (``#rgb`` or ``#rrggbb``). A bare string is a base."""

    base: Literal["light", "dark", "auto"] = "auto"
    background: str | None = None
    surface: str | None = None
    text: str | None = None
    muted: str | None = None
    accent: str | None = None
    border: str | None = None
    success: str | None = None
    failure: str | None = None
    warning: str | None = None

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


class DashboardConfig(_Section):
    """The web dashboard at ``/dashboard``."""

    enabled: bool = True
    title: str = Field("TSS", min_length=1, max_length=80)
    theme: ThemeConfig = Field(default_factory=ThemeConfig)
    #: the zone times are shown in besides UTC; ``browser`` is the viewer's own
    timezone: str = "browser"
    #: ``live`` follows the event stream; ``poll`` reloads data every ``refresh_interval``;
    #: ``off`` changes nothing until the viewer reloads
    refresh: Literal["live", "poll", "off"] = "live"
    refresh_interval: float = Field(10.0, ge=1, le=3600)
    pages: list[str] = Field(default_factory=lambda: list(DASHBOARD_PAGES), min_length=1)
    job_columns: list[str] = Field(default_factory=lambda: list(JOB_COLUMNS), min_length=1)
    run_columns: list[str] = Field(default_factory=lambda: list(RUN_COLUMNS), min_length=1)
    page_size: int = Field(50, ge=10, le=500)
    #: how long a login lasts
    session_ttl: float = Field(12 * 3600.0, ge=60, le=90 * 86400)

    _durations = field_validator("refresh_interval", "session_ttl", mode="before")(_seconds)

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


class Settings(BaseSettings):
    """The whole configuration. Jobs stay raw here: they are validated as definitions."""

    model_config = SettingsConfigDict(
        env_prefix="TSS_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    store: StoreConfig = Field(default_factory=StoreConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    python_path: list[str] = Field(default_factory=list)
    jobs: list[dict[str, Any]] = Field(default_factory=list)
    job_files: list[str] = Field(default_factory=list)

    #: where the config was read from (None: defaults and environment only)
    source: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the files, which arrive as init arguments.
        return (env_settings, init_settings)

    def base_dir(self) -> Path:
        """The folder relative paths in the config are taken from."""
        return Path(self.source).parent if self.source else Path.cwd()


def find_config(explicit: str | None = None) -> Path | None:
    """``--config``, else ``TSS_CONFIG``, else ``./config.yaml``, else ``./configs/config.yaml``.

    :raises ConfigError: an explicitly named file does not exist.
    """
    named = explicit or os.environ.get("TSS_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"config file {named} does not exist")
        return path
    for candidate in CONFIG_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file (config, override or jobs) with the bounded safe loader.

    :raises ConfigError: unreadable, larger than :data:`~tss._yaml.MAX_YAML_BYTES`,
        malformed, or an alias bomb, naming the file (and the line).
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(
            f"{path}: the file is larger than {MAX_YAML_BYTES >> 20} MiB, the limit for "
            "config and job files: split it (job_files may list several)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        kind = "refused" if isinstance(exc, AliasError) else "malformed"
        raise ConfigError(f"{path}:{where}: {kind} YAML: {problem}") from exc


def _mapping(path: Path) -> dict[str, Any]:
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not a list or value")
    return data


def load_config(explicit: str | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Read the configuration from its files and the environment.

    :raises ConfigError: a file is missing or malformed, or a key is invalid (named).
    """
    env = os.environ if environ is None else environ
    path = find_config(explicit)
    data: dict[str, Any] = {}
    if path is not None:
        data = _mapping(path)
        override = path.parent / "override.yaml"
        if override.is_file():
            data = deep_merge(data, _mapping(override))
    for var, (section, key) in _ALIASES.items():
        if env.get(var):
            data = deep_merge(data, {section: {key: env[var]}})
    data["source"] = str(path) if path else None
    try:
        return Settings(**data)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}{key}: {err['msg']}", field=key) from exc
