"""Config layering: config.yaml, then override.yaml, then TSS_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tss.config import load_config
from tss.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TSS_"):
            monkeypatch.delenv(name)


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_config()
    assert settings.source is None
    assert settings.store.url == "sqlite:///tss.db"
    assert settings.broker.url == "local://"
    assert settings.worker.concurrency == 8


def test_the_worker_batch_size_is_a_key(tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", "worker: {batch_size: 200}\n")
    assert load_config(str(config)).worker.batch_size == 200


def test_files_are_found_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    write(tmp_path / "configs" / "config.yaml", "worker: {concurrency: 3}\n")
    assert load_config().worker.concurrency == 3
    write(tmp_path / "config.yaml", "worker: {concurrency: 4}\n")
    assert load_config().worker.concurrency == 4
    other = write(tmp_path / "other.yaml", "worker: {concurrency: 5}\n")
    monkeypatch.setenv("TSS_CONFIG", str(other))
    assert load_config().worker.concurrency == 5
    explicit = write(tmp_path / "explicit.yaml", "worker: {concurrency: 6}\n")
    assert load_config(str(explicit)).worker.concurrency == 6


def test_override_then_environment_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        tmp_path / "config.yaml",
        "worker: {concurrency: 2, pools: [a, b]}\nscheduler: {max_sleep: 5s}\n",
    )
    write(tmp_path / "override.yaml", "worker: {concurrency: 9}\n")
    settings = load_config(str(config))
    assert settings.worker.concurrency == 9
    assert settings.worker.pools == ["a", "b"]  # merged key by key, not replaced
    assert settings.scheduler.max_sleep == 5.0
    monkeypatch.setenv("TSS_WORKER__CONCURRENCY", "16")
    monkeypatch.setenv("TSS_DATABASE_URL", "sqlite:////var/lib/tss/x.db")
    monkeypatch.setenv("TSS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1/")
    monkeypatch.setenv("TSS_REDIS_URL", "redis://127.0.0.1:6379/3")
    settings = load_config(str(config))
    assert settings.worker.concurrency == 16
    assert settings.store.url == "sqlite:////var/lib/tss/x.db"
    assert settings.broker.url == "amqp://guest:guest@127.0.0.1/"
    assert settings.redis.url == "redis://127.0.0.1:6379/3"


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf" / "config.yaml", "python_path: [lib]\n")
    settings = load_config(str(config))
    assert settings.base_dir() == tmp_path / "conf"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("worker: {concurrency: 0}\n", "worker.concurrency"),
        ("worker: {lease: soon}\n", "worker.lease"),
        ("sheduler: {}\n", "sheduler"),
        ("logging: {level: LOUD}\n", "logging.level"),
        ("scheduler: {unrunnable_after: -1}\n", "scheduler.unrunnable_after"),
        ("worker: {batch_size: 0}\n", "worker.batch_size"),
        ("worker: {batch_size: 10001}\n", "worker.batch_size"),
        ("worker: {labels: ['gpu', 'has space']}\n", "worker.labels"),
        ("worker: {labels: ['=eu']}\n", "worker.labels"),
        ("worker: {labels: gpu}\n", "worker.labels"),
    ],
)
def test_an_invalid_key_is_named(tmp_path: Path, text: str, names: str) -> None:
    config = write(tmp_path / "config.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(str(config))
    assert str(info.value).startswith(f"{config}: {names}:")
    assert info.value.field == names


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("{}", 600.0), ("{unrunnable_after: 10m}", 600.0), ("{unrunnable_after: 0}", 0.0),
     ("{unrunnable_after: null}", None)],
)  # fmt: skip
def test_the_unrunnable_bound(tmp_path: Path, text: str, seconds: float | None) -> None:
    config = write(tmp_path / "config.yaml", f"scheduler: {text}\n")
    assert load_config(str(config)).scheduler.unrunnable_after == seconds


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", "worker:\n  concurrency: [1,\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: line \d+, column \d+: malformed YAML"):
        load_config(str(config))


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))


def test_a_list_at_the_top_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(str(config))


def test_an_alias_bomb_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    jobs = "\n".join("  " + line for line in levels)
    config = write(tmp_path / "config.yaml", f"jobs:\n- name: x\n  type: noop\n  tags:\n{jobs}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: line 10, column \d+: refused YAML: "):
        load_config(str(config))


def test_a_few_anchors_are_fine(tmp_path: Path) -> None:
    config = write(
        tmp_path / "config.yaml",
        "x-retry: &retry {max: 3, delay: 5}\n"
        "jobs:\n"
        "  - {name: a, type: noop, retries: *retry}\n"
        "  - {name: b, type: noop, retries: *retry}\n",
    )
    with pytest.raises(ConfigError, match="x-retry: unknown key"):
        load_config(str(config))  # the anchor loads; only the unknown key is refused
    write(config, "worker: {pools: &p [a, b]}\njobs:\n  - {name: a, type: noop, tags: *p}\n")
    assert load_config(str(config)).jobs[0]["tags"] == ["a", "b"]


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    from tss._yaml import MAX_YAML_BYTES

    config = write(tmp_path / "config.yaml", "# " + "x" * MAX_YAML_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: the file is larger than 1 MiB"):
        load_config(str(config))
    override = tmp_path / "override.yaml"
    write(config, "worker: {concurrency: 2}\n")
    write(override, "# " + "x" * MAX_YAML_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"override\.yaml: the file is larger than 1 MiB"):
        load_config(str(config))
