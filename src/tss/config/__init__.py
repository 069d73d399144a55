"""Configuration: ``config.yaml``, then ``override.yaml`` beside it, then ``TSS_*`` variables.

Each key is a pydantic field whose ``description`` is its meaning, the one source of the
table in ``docs/configuration.md`` (``scripts/config_docs.py`` writes it). The sections live
in ``runtime.py`` (store, broker, scheduler, worker), ``http.py`` (the ``http`` task type),
``serving.py`` (server, api, logging) and ``dashboard.py``.

Nested keys in the environment use ``__`` (``TSS_WORKER__CONCURRENCY=16``). The aliases
``TSS_DATABASE_URL`` (store.url), ``TSS_RABBITMQ_URL`` (broker.url), ``TSS_REDIS_URL``
(redis.url), ``TSS_ADMIN_TOKEN`` (api.admin_token) and ``TSS_WORKER_STATUS_REGISTRY``
(worker.status_registry) are honoured. An invalid config
stops with the key and the reason.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import AliasChoices, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tss._yaml import MAX_YAML_BYTES, AliasError, load_yaml
from tss.config import seeds
from tss.config.alerts import AlertsConfig
from tss.config.dashboard import (
    DASHBOARD_PAGES,
    JOB_COLUMNS,
    RUN_COLUMNS,
    DashboardConfig,
    ThemeConfig,
)
from tss.config.http import HttpConfig
from tss.config.plugins import TaskPluginConfig
from tss.config.retention import RetentionConfig
from tss.config.runtime import BrokerConfig, RedisConfig, SchedulerConfig, StoreConfig, WorkerConfig
from tss.config.serving import ApiConfig, LoggingConfig, ServerConfig
from tss.config.values import shown
from tss.core.merge import deep_merge
from tss.errors import ConfigError, field_path

__all__ = [
    "CONFIG_CANDIDATES",
    "DASHBOARD_PAGES",
    "JOB_COLUMNS",
    "RUN_COLUMNS",
    "AlertsConfig",
    "ApiConfig",
    "BrokerConfig",
    "DashboardConfig",
    "HttpConfig",
    "LoggingConfig",
    "RedisConfig",
    "SchedulerConfig",
    "ServerConfig",
    "Settings",
    "StoreConfig",
    "TaskPluginConfig",
    "ThemeConfig",
    "WorkerConfig",
    "config_error",
    "config_files",
    "environment_layer",
    "find_config",
    "keys_of",
    "load_config",
    "read_yaml",
    "validate_settings",
]

CONFIG_CANDIDATES = ("config.yaml", "configs/config.yaml")
_ALIASES = {
    "TSS_DATABASE_URL": ("store", "url"),
    "TSS_RABBITMQ_URL": ("broker", "url"),
    "TSS_REDIS_URL": ("redis", "url"),
    "TSS_ADMIN_TOKEN": ("api", "admin_token"),
    "TSS_WORKER_STATUS_REGISTRY": ("worker", "status_registry"),
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
    http: HttpConfig = Field(default_factory=HttpConfig)
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig,
        validation_alias=AliasChoices("alerts", "notifications"),
        description="alerts: channels, rules, grouping and limits (`notifications:` is the "
        "same key; [alerts.md](alerts.md))",
        json_schema_extra=shown("see Alerts below"),
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
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
    task_plugins: list[TaskPluginConfig] = Field(
        default_factory=list,
        description="task types loaded beside the built-in and installed ones: a class by "
        "module path (`mypkg.tasks:EmailTask`), or `{class: ..., config: {...}}`, or "
        "`{entry_point: name, config: {...}}`; one that cannot be loaded stops the start "
        "([plugins.md](plugins.md))",
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


#: variables that name an environment whose file (``configs/<name>.yaml``) is a layer
ENVIRONMENT_VARIABLES = ("TSS_ENVIRONMENT", "TME_ENVIRONMENT")
_ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def config_files(
    explicit: str | None = None, *, environ: Mapping[str, str] | None = None
) -> tuple[list[Path], Path | None]:
    """The files a config is read from, first to last (a later one wins), and the one it
    is said to come from (relative paths in it are taken from its folder).

    The configs folder is ``configs/`` in the working directory, or the folder of the file
    ``--config`` (or ``TSS_CONFIG``) names. In order: ``<folder>/default.yaml``;
    ``<folder>/<environment>.yaml`` when ``TSS_ENVIRONMENT`` (or ``TME_ENVIRONMENT``) is
    set; the config file (:func:`find_config`); ``override.yaml`` beside it (or in the
    folder when there is none).

    :raises ConfigError: a named file or environment file does not exist, or the
        environment's name is not a plain name.
    """
    env = os.environ if environ is None else environ
    path = find_config(explicit)
    named = bool(explicit or env.get("TSS_CONFIG"))
    folder = path.parent if (path is not None and named) else Path("configs")
    files: list[Path] = []

    def add(candidate: Path) -> None:
        if candidate.is_file() and all(not candidate.samefile(f) for f in files):
            files.append(candidate)

    add(folder / "default.yaml")
    for variable in ENVIRONMENT_VARIABLES:
        name = env.get(variable)
        if name:
            if not _ENVIRONMENT_NAME.fullmatch(name):
                raise ConfigError(
                    f"{variable}: {name[:64]!r} is not an environment name (letters, digits, "
                    "'.', '_', '-')",
                    field=variable,
                )
            layer = folder / f"{name}.yaml"
            if not layer.is_file():
                raise ConfigError(
                    f"{variable}={name}: the file {layer} does not exist", field=variable
                )
            add(layer)
            break
    if path is not None:
        add(path)
    add((path.parent if path is not None else folder) / "override.yaml")
    return files, path if path is not None else (files[0] if files else None)


def keys_of(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``values`` (keys as in a config file, the seeds' spellings too) with the alias
    variables over them: what :func:`load_config` does to each file, and the library's
    ``Config(**keys)`` to its keys.

    :raises ConfigError: a seed spelling that cannot be used (:func:`seeds.translate`).
    """
    env = os.environ if environ is None else environ
    urls = {"store": env.get("TSS_DATABASE_URL"), "redis": env.get("TSS_REDIS_URL")}
    return seeds.translate(values, urls=urls)


def environment_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The keys the alias variables give (``TSS_DATABASE_URL``, ``WORKER_COUNT``...); the
    ``TSS_SECTION__KEY`` variables are read by the settings themselves."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    for var, (section, key) in {**_ALIASES, **seeds.ENVIRONMENT}.items():
        if env.get(var):
            data = deep_merge(data, {section: {key: env[var]}})
    return data


def load_config(
    explicit: str | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the configuration from its files (:func:`config_files`) and the environment,
    the seeds' spellings turned into TSS's keys (:mod:`tss.config.seeds`).

    :raises ConfigError: a file is missing or malformed, or a key is invalid (named, with
        the nearest known key when it does not exist).
    """
    env = os.environ if environ is None else environ
    files, source = config_files(explicit, environ=env)
    data: dict[str, Any] = {}
    for file in files:
        try:
            layer = keys_of(_mapping(file), env)
        except ConfigError as exc:
            raise ConfigError(f"{file}: {exc.message}", field=exc.field) from exc
        data = deep_merge(data, layer)
    data = deep_merge(data, environment_layer(env))
    data["source"] = str(source) if source else None
    return validate_settings(Settings, data, where=f"{source}: " if source else "")


S = TypeVar("S", bound=Settings)


def validate_settings(cls: type[S], data: dict[str, Any], *, where: str = "") -> S:
    """``cls(**data)``, its first error as a :class:`ConfigError` naming the key (and, for a
    key that does not exist, the nearest one that does)."""
    try:
        return cls(**data)
    except PydanticValidationError as exc:
        raise config_error(exc, where=where) from exc


def config_error(exc: PydanticValidationError, *, where: str = "") -> ConfigError:
    """The first error of a settings validation, naming the key (and, for a key that does
    not exist, the nearest one that does)."""
    err = exc.errors()[0]
    key = field_path(err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key" + _nearest(err["loc"])
    return ConfigError(f"{where}{key}: {message}", field=key)


def _nearest(loc: tuple[Any, ...]) -> str:
    """``"; did you mean 'x'?"`` for the last part of ``loc`` among the keys beside it."""
    model: Any = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        model = field.annotation if field is not None else None
        if model is None or not hasattr(model, "model_fields"):
            return ""
    names = [n for n, f in model.model_fields.items() if not (f.json_schema_extra or {})
             .get("internal")]  # fmt: skip
    if model is Settings:
        names += list(seeds.TOP_LEVEL)
    found = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""
