"""Secrets in what the CLI and logs print: URLs, secret-looking keys, job env values."""

from __future__ import annotations

import pytest

from tss._urls import mask_url
from tss.cli.output import mask_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h:5432/db?password=hunter2&sslmode=require",
            "postgresql://u@h:5432/db?password=***&sslmode=require",
        ),
        (
            "postgresql://u:pw@h/db?sslpassword=k%26ey&application_name=tss",
            "postgresql://u:***@h/db?sslpassword=***&application_name=tss",
        ),
        ("redis://h/0?PASSWD=a&pass=b&Secret=c", "redis://h/0?PASSWD=***&pass=***&Secret=***"),
        (
            "amqp://h/?token=t&access_token=a&api_key=k&apikey=k2&auth=x&heartbeat=30",
            "amqp://h/?token=***&access_token=***&api_key=***&apikey=***&auth=***&heartbeat=30",
        ),
        ("https://h/x?api%5Fkey=k&q=passport", "https://h/x?api%5Fkey=***&q=passport"),
        ("postgresql://h/db?password=", "postgresql://h/db?password="),
        ("sqlite:///var/lib/tss.db", "sqlite:///var/lib/tss.db"),
        ("redis://h:6379/0?db=1", "redis://h:6379/0?db=1"),
        ("not a url at all", "not a url at all"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_job_env_literals_and_secret_keys_are_masked_references_kept() -> None:
    config = {
        "store": {"url": "postgresql://u@h/db?password=pw"},
        "api": {"auth": True, "admin_token": "a" * 20, "max_body": 1024},
        "dashboard": {"session_ttl": 3600.0},
        "jobs": [
            {
                "name": "backup",
                "type": "shell",
                "params": {
                    "argv": ["backup", "--to", "s3://bucket"],
                    "env": {
                        "REGION": "eu-west-1",
                        "RETRIES": 3,
                        "DB_PASSWORD": {"from_file": "/run/secrets/db"},
                        "API_KEY": {"from_env": "BACKUP_API_KEY"},
                    },
                },
            },
            {
                "name": "report",
                "params": {
                    "function": "reports:main",
                    "kwargs": {"api_token": "t0k", "smtp_password": "pw", "Pass": "p", "n": 2},
                },
            },
        ],
    }
    masked = mask_secrets(config)
    assert masked["store"]["url"] == "postgresql://u@h/db?password=***"
    assert masked["api"] == {"auth": True, "admin_token": "***", "max_body": 1024}
    assert masked["dashboard"] == {"session_ttl": 3600.0}
    backup, report = masked["jobs"]
    assert backup["params"]["argv"] == ["backup", "--to", "s3://bucket"]
    assert backup["params"]["env"] == {
        "REGION": "***",
        "RETRIES": "***",
        "DB_PASSWORD": {"from_file": "/run/secrets/db"},
        "API_KEY": {"from_env": "BACKUP_API_KEY"},
    }
    assert report["params"]["kwargs"] == {
        "api_token": "***",
        "smtp_password": "***",
        "Pass": "***",
        "n": 2,
    }
    assert config["jobs"][0]["params"]["env"]["REGION"] == "eu-west-1"  # not changed in place


def test_alert_channel_secrets_are_masked_references_kept() -> None:
    channels = {
        "team": {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/sekrit"},
        "hook": {
            "type": "webhook",
            "url": "https://pager.example.com/h?key=abc",
            "secret": "s3",
            "headers": {"Authorization": "Bearer zz", "X-Ref": {"from_env": "REF"}},
        },
        "ref": {"type": "slack", "url": {"from_env": "SLACK_URL"}},
        "mail": {"type": "email", "host": "smtp.example.com", "password": "pw"},
    }
    shown = mask_secrets({"alerts": {"channels": channels}})["alerts"]["channels"]
    assert shown["team"]["url"] == "https://hooks.slack.com/***"
    assert shown["hook"]["url"] == "https://pager.example.com/***"
    assert shown["hook"]["secret"] != "s3" and shown["mail"]["password"] != "pw"
    assert shown["hook"]["headers"]["Authorization"] != "Bearer zz"
    assert shown["hook"]["headers"]["X-Ref"] == {"from_env": "REF"}
    assert shown["ref"]["url"] == {"from_env": "SLACK_URL"}
    assert "sekrit" not in str(shown) and "abc" not in str(shown)
