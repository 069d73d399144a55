"""The seeds' spellings of config keys (tss.config.seeds), the layers a config is read
from (configs/default.yaml, the environment's file, config.yaml, override.yaml, variables),
unknown keys with the nearest known one, and logging to a file per component."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tss import Config
from tss.cli.context import setup_logging
from tss.config import Settings, load_config
from tss.errors import ConfigError


def _load(tmp_path: Path, text: str, **env: str) -> Settings:
    (tmp_path / "config.yaml").write_text(text)
    return load_config(str(tmp_path / "config.yaml"), environ=env)


@pytest.mark.parametrize(
    ("text", "store", "broker"),
    [
        ("scheduler_backend: memory\n", "memory://", "local://"),
        ("scheduler_backend: sqlite\n", "sqlite:///tss.db", "local://"),
        ("scheduler_backend: redis\n", "redis://127.0.0.1:6379/0", "store://"),
        (
            "scheduler_backend: redis\nredis: {url: 'redis://10.0.0.1:6379/2'}\n",
            "redis://10.0.0.1:6379/2",
            "store://",
        ),
        (
            "scheduler_backend: postgres\nstore: {url: 'postgresql://u@db/tss'}\n",
            "postgresql://u@db/tss",
            "store://",
        ),
        (
            "scheduler_backend: postgres\nstore: {url: 'postgresql://u@db/tss'}\n"
            "broker: {url: 'amqp://guest:guest@mq:5672/'}\n",
            "postgresql://u@db/tss",
            "amqp://guest:guest@mq:5672/",
        ),
    ],
)
def test_scheduler_backend_sets_the_store_and_the_broker(
    tmp_path: Path, text: str, store: str, broker: str
) -> None:
    settings = _load(tmp_path, text)
    assert (settings.store.url, settings.broker.url) == (store, broker)


def test_scheduler_backend_postgres_takes_the_url_from_the_environment(tmp_path: Path) -> None:
    url = "postgresql://u@elsewhere/tss"
    settings = _load(tmp_path, "scheduler_backend: postgres\n", TSS_DATABASE_URL=url)
    assert (settings.store.url, settings.broker.url) == (url, "store://")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("scheduler_backend: postgres\n", "store.url", "needs the database's URL"),
        ("scheduler_backend: mongo\n", "scheduler_backend", "not one of memory, sqlite"),
        (
            "scheduler_backend: memory\nstore: {url: 'sqlite:///x.db'}\n",
            "scheduler_backend",
            "say different things",
        ),
        ("WORKER_COUNT: 4\nworker: {concurrency: 8}\n", "WORKER_COUNT", "say different"),
        ("resource_usage: {gpus: 1}\n", "resource_usage.gpus", "takes cores and memory"),
        ("resource_usage: 4\n", "resource_usage", "must be a mapping"),
        ("worker: {concurency: 3}\n", "worker.concurency", "did you mean 'concurrency'?"),
        ("schedular_backend: memory\n", "schedular_backend", "did you mean 'scheduler_backend'"),
    ],
)
def test_a_wrong_key_is_named_and_the_nearest_known_one_offered(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert "config.yaml" in str(caught.value)


def test_the_other_seed_spellings(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "task_timeout: 1h\nresource_usage: {cores: 2, memory: 512}\nWORKER_COUNT: 3\n"
        "logging: {loglevel: debug, output: stdout, log_file: logs/tss.log}\n",
    )
    assert settings.worker.default_timeout == 3600
    assert (settings.worker.cores, settings.worker.memory) == (2, 512)
    assert settings.worker.concurrency == 3
    assert settings.logging.level == "DEBUG"
    assert (settings.logging.output, settings.logging.file) == ("stdout", "logs/tss.log")
    assert _load(tmp_path, "worker_count: 5\n").worker.concurrency == 5
    assert _load(tmp_path, "{}\n", WORKER_COUNT="6").worker.concurrency == 6


def test_the_layers_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "default.yaml").write_text(
        "worker: {concurrency: 2, grace_period: 7}\nlogging: {level: ERROR}\n"
        "scheduler: {max_sleep: 3}\n"
    )
    (configs / "staging.yaml").write_text("worker: {concurrency: 3}\nlogging: {level: DEBUG}\n")
    (tmp_path / "config.yaml").write_text("logging: {level: WARNING}\nscheduler: {max_sleep: 4}\n")
    (tmp_path / "override.yaml").write_text("scheduler: {max_sleep: 5}\n")
    plain = load_config(environ={})
    assert (plain.worker.concurrency, plain.worker.grace_period) == (2, 7)
    assert (plain.logging.level, plain.scheduler.max_sleep) == ("WARNING", 5)
    assert plain.source == "config.yaml"
    staged = load_config(environ={"TSS_ENVIRONMENT": "staging"})
    assert (staged.worker.concurrency, staged.logging.level) == (3, "WARNING")
    assert load_config(environ={"TME_ENVIRONMENT": "staging"}).worker.concurrency == 3
    assert load_config(environ={"WORKER_COUNT": "9"}).worker.concurrency == 9
    # TME's layout: only configs/default.yaml and configs/override.yaml
    (tmp_path / "config.yaml").unlink()
    (tmp_path / "override.yaml").unlink()
    (configs / "override.yaml").write_text("worker: {concurrency: 4}\n")
    tme = load_config(environ={})
    assert tme.worker.concurrency == 4
    assert tme.source == str(Path("configs/default.yaml"))
    assert Config().worker.concurrency == 4


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "", "x" * 80])
def test_an_environment_name_is_a_plain_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if not name:
        assert load_config(environ={"TSS_ENVIRONMENT": name}).worker.concurrency == 8
        return
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"TSS_ENVIRONMENT": name})
    assert caught.value.field == "TSS_ENVIRONMENT"


def test_an_environment_without_its_file_says_which_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"configs/prod\.yaml does not exist"):
        load_config(environ={"TME_ENVIRONMENT": "prod"})


def test_the_library_config_takes_the_seed_spellings() -> None:
    config = Config(scheduler_backend="memory", WORKER_COUNT=3, task_timeout="30s")
    assert (config.store.url, config.broker.url) == ("memory://", "local://")
    assert (config.worker.concurrency, config.worker.default_timeout) == (3, 30)
    with pytest.raises(ConfigError) as caught:
        Config(wroker={"concurrency": 2})
    assert caught.value.field == "wroker"
    assert "did you mean 'worker'?" in str(caught.value)


def test_a_serving_process_logs_to_its_own_file(tmp_path: Path) -> None:
    settings = Settings(logging={"file": "logs/tss.log"}, source=str(tmp_path / "config.yaml"))
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        setup_logging(settings, serving="worker")
        logging.getLogger("tss.test").info("hello from the worker")
        for handler in root.handlers:
            handler.flush()
        assert "hello from the worker" in (tmp_path / "logs" / "tss-worker.log").read_text()
        setup_logging(settings)  # a one-shot command: stderr, warnings only
        assert isinstance(root.handlers[0], logging.StreamHandler)
        assert not isinstance(root.handlers[0], logging.FileHandler)
        blocked = Settings(logging={"file": "x/tss.log"}, source=str(tmp_path / "config.yaml"))
        (tmp_path / "x").write_text("a file where the folder should be")
        with pytest.raises(ConfigError) as caught:
            setup_logging(blocked, serving="scheduler")
        assert caught.value.field == "logging.file"
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], _ = kept
        root.setLevel(kept[1])
