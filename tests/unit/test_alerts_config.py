"""The ``alerts:`` section at the door: every mistake names its key, and the seeds'
``notifications:`` is the same section."""

from __future__ import annotations

from pathlib import Path

import pytest

from tss.config import ConfigError, load_config


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(str(path))


def test_notifications_is_alerts_and_on_is_read_as_written(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        """
notifications:
  channels:
    ops: {type: email, host: smtp.example.com, from: tss@example.com, to: [ops@example.com]}
  rules:
    - dead
    - {on: missed, after: 10m}
""",
    )
    alerts = settings.alerts  # type: ignore[attr-defined]
    assert list(alerts.channels) == ["ops"]
    assert [(r.on, r.setting("after")) for r in alerts.rules] == [("dead", None), ("missed", 600.0)]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "alerts: {rules: [{on: dead, channels: [pager]}]}",
            "rules[0].channels: no channel named 'pager'",
        ),
        ("alerts: {default_channels: [pager]}", "default_channels[0]: no channel named 'pager'"),
        (
            "alerts: {channels: {m: {type: email, host: h.org, from: nobody, to: [a@b.org]}}}",
            "not an email address",
        ),
        (
            "alerts: {channels: {m: {type: email, host: h.org, from: a@b.org,"
            " to: ['x@y.org\\nBcc: z@q.org']}}}",
            "not an email address",
        ),
        ("alerts: {channels: {m: {type: pager}}}", "alerts.channels.m"),
        ("alerts: {rules: [{on: exploded}]}", "alerts.rules[0].on"),
        ("alerts: {rules: [{on: late, count: 3}]}", "`count` does not apply to `on: late`"),
        ("alerts: {rules: [{on: slow}]}", "needs `seconds`"),
        ("alerts: {link: 'javascript:alert(1)'}", "alerts.link"),
        ("alerts: {allow: ['not a network']}", "alerts.allow"),
        ("alerts: {channels: {'bad name': {type: log}}}", "not a channel name"),
        (
            "alerts: {channels: {s: {type: slack, url: {from_env: X, from_file: /y}}}}",
            "alerts.channels.s",
        ),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, text)
    assert words in str(refused.value)
    assert "alerts" in str(refused.value)


def test_an_email_channel_takes_only_its_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(
            tmp_path,
            "alerts: {channels: {m: {type: email, host: h.org, from: a@b.org, to: [a@b.org],"
            " url: x}}}",
        )
    assert "alerts.channels.m" in str(refused.value) and "url" in str(refused.value)
