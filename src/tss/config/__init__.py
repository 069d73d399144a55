"""Configuration: ``config.yaml``, then ``override.yaml`` beside it, then ``TSS_*`` variables.

Each key is a pydantic field whose ``description`` is its meaning, the one source of the
table in ``docs/configuration.md`` (``scripts/config_docs.py`` writes it). The sections live
in ``runtime.py`` (store, broker, scheduler, worker), ``serving.py`` (server, api, logging)
and ``dashboard.py``.

Nested keys in the environment use ``__`` (``TSS_WORKER__CONCURRENCY=16``). The aliases
``TSS_DATABASE_URL`` (store.url), ``TSS_RABBITMQ_URL`` (broker.url), ``TSS_REDIS_URL``
(redis.url) and ``TSS_ADMIN_TOKEN`` (api.admin_token) are honoured. An invalid config
stops with the key and the reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tss._yaml import MAX_YAML_BYTES, AliasError, load_yaml
from tss.config.dashboard import (
    DASHBOARD_PAGES,
    JOB_COLUMNS,
    RUN_COLUMNS,
    DashboardConfig,
    ThemeConfig,
)
from tss.config.runtime import BrokerConfig, RedisConfig, SchedulerConfig, StoreConfig, WorkerConfig
from tss.config.serving import ApiConfig, LoggingConfig, ServerConfig
from tss.config.values import shown
from tss.core.merge import deep_merge
from tss.errors import ConfigError

__all__ = [
    "CONFIG_CANDIDATES",
    "DASHBOARD_PAGES",
    "JOB_COLUMNS",
    "RUN_COLUMNS",
    "ApiConfig",
    "BrokerConfig",
    "DashboardConfig",
    "LoggingConfig",
    "RedisConfig",
    "SchedulerConfig",
    "ServerConfig",
    "Settings",
    "StoreConfig",
    "ThemeConfig",
    "WorkerConfig",
    "find_config",
    "load_config",
    "read_yaml",
]

CONFIG_CANDIDATES = ("config.yaml", "configs/config.yaml")
_ALIASES = {
    "TSS_DATABASE_URL": ("store", "url"),
    "TSS_RABBITMQ_URL": ("broker", "url"),
    "TSS_REDIS_URL": ("redis", "url"),
    "TSS_ADMIN_TOKEN": ("api", "admin_token"),
}


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
    dashboard: DashboardConfig = Field(
        default_factory=DashboardConfig,
        description="the web dashboard at `/dashboard`",
        json_schema_extra=shown("see Dashboard below"),
    )
    python_path: list[str] = Field(
        default_factory=list,
        description="folders added to `sys.path` for `python` jobs (the working directory "
        "always is)",
    )
    jobs: list[dict[str, Any]] = Field(default_factory=list, description="job definitions")
    job_files: list[str] = Field(
        default_factory=list,
        description="YAML files of jobs (a list, or a mapping with `jobs:`)",
    )

    source: str | None = Field(
        None,
        description="where the config was read from (None: defaults and environment only); "
        "set by `load_config`, not a key to write",
        json_schema_extra={"internal": True},
    )

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
