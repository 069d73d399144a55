"""The ``alerts:`` section (``notifications:`` is the same): where alerts go (channels),
on what (rules), and how they are grouped, limited and retried. docs/alerts.md has it all.

Secret values (an SMTP password, a Slack webhook URL, a signing secret) may be written as
references, ``{from_env: NAME}`` or ``{from_file: /run/secrets/x}``, read when the server
starts; ``tss config show`` never prints what they hold.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tss.config.values import SECONDS, Section, seconds
from tss.core.alerts import CHANNEL_NAME, AlertRule
from tss.net.guard import parse_allow

#: an email address as a mail header may carry it (no display name, no line breaks)
EMAIL = re.compile(r"[^@\s<>,;\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253})\.[A-Za-z]{2,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
#: headers of a webhook's request that TSS sets (as do all ``X-TSS-*``): not configurable
_OWN_HEADERS = frozenset({"content-type", "content-length", "host", "transfer-encoding"})


class SecretRef(BaseModel):
    """A secret read when the server starts: ``{from_env: NAME}`` or ``{from_file: /path}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_env: str | None = None
    from_file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("a reference is {from_env: NAME} or {from_file: /path}")
        if self.from_env is not None and not _ENV_NAME.fullmatch(self.from_env):
            raise ValueError(f"from_env takes a variable name, not {self.from_env!r}")
        if self.from_file is not None and not self.from_file.startswith("/"):
            raise ValueError("from_file takes an absolute path")
        return self


#: a value written as it is, or a reference to it
Secret = str | SecretRef


class EmailChannel(Section):
    """Mail through an SMTP server."""

    type: Literal["email"]
    host: str = Field(min_length=1, max_length=253, description="the SMTP server")
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="`starttls` (port 587: required, the certificate is checked), `tls` "
        "(port 465), or `none` (a local relay only)",
    )
    username: str | None = Field(None, max_length=256)
    password: Secret | None = None
    sender: str = Field(alias="from", description="the From address")
    to: list[str] = Field(min_length=1, max_length=50, description="recipients")
    timeout: float = Field(10.0, gt=0, le=300, json_schema_extra=SECONDS)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    _durations = field_validator("timeout", mode="before")(seconds)

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        if not EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        for address in value:
            if not EMAIL.fullmatch(address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _auth_needs_tls(self) -> EmailChannel:
        if self.password is not None and self.username is None:
            raise ValueError("password is given without username")
        return self


class SlackChannel(Section):
    """A Slack incoming webhook (the URL is the secret: pass it by reference)."""

    type: Literal["slack"]
    url: Secret
    timeout: float = Field(10.0, gt=0, le=300, json_schema_extra=SECONDS)

    _durations = field_validator("timeout", mode="before")(seconds)


class WebhookChannel(Section):
    """A JSON POST, signed with HMAC-SHA256 when ``secret`` is set."""

    type: Literal["webhook"]
    url: Secret
    secret: Secret | None = Field(
        None, description="signs each body: header X-TSS-Signature: sha256=<hex>"
    )
    headers: dict[str, Secret] = Field(default_factory=dict, max_length=50)
    timeout: float = Field(10.0, gt=0, le=300, json_schema_extra=SECONDS)

    _durations = field_validator("timeout", mode="before")(seconds)

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, Any]) -> dict[str, Any]:
        seen: set[str] = set()
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}", name):
                raise ValueError(f"{name!r} is not a header name")
            lower = name.lower()
            if lower in _OWN_HEADERS or lower.startswith("x-tss-"):
                raise ValueError(f"{name!r} is set by TSS itself: it cannot be configured")
            if lower in seen:
                raise ValueError(f"{name!r} is given twice (header names ignore case)")
            seen.add(lower)
        return value


class LogChannel(Section):
    """A line in TSS's own log (logger ``tss.alerts``)."""

    type: Literal["log"]
    level: Literal["info", "warning", "error"] = "warning"


class PluginChannel(Section):
    """A channel class of an installed package or of ``python_path``
    (``mypkg.alerts:PagerChannel``, a :class:`tss.alerts.channels.Channel`)."""

    type: Literal["plugin"]
    class_: str = Field(alias="class")
    config: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @field_validator("class_")
    @classmethod
    def _check_class(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", value):
            raise ValueError(f"{value!r} is not a class path such as 'mypkg.alerts:MyChannel'")
        return value


ChannelConfig = Annotated[
    EmailChannel | SlackChannel | WebhookChannel | LogChannel | PluginChannel,
    Field(discriminator="type"),
]


class AlertsConfig(Section):
    """Alerts: channels, rules, grouping, rate limits, delivery retries."""

    enabled: bool = Field(
        True,
        description="raise and deliver alerts, in each scheduler process, when channels or "
        "rules are configured (one process works at a time)",
    )
    channels: dict[str, ChannelConfig] = Field(
        default_factory=dict,
        max_length=100,
        description="channels by name: `{type: email|slack|webhook|log|plugin, ...}`",
    )
    default_channels: list[str] = Field(
        default_factory=list,
        description="channels of rules that name none (empty: every channel)",
    )
    rules: list[AlertRule] = Field(
        default_factory=list,
        max_length=200,
        description="what to alert on, for every job (or those `jobs:` names): "
        "`{on: failed|dead|timed_out|consecutive_failures|recovered|late|missed|slow|"
        "backlog|no_workers, ...}`",
    )
    repeat_after: float = Field(
        3600.0,
        ge=0,
        le=30 * 86400,
        description="while a condition lasts, alert about it again after this long "
        "(0: once until it ends)",
        json_schema_extra=SECONDS,
    )
    rate_limit: int = Field(
        20, ge=1, le=10000, description="alerts a channel is sent per minute; the rest are "
        "held and summed up in one message"
    )  # fmt: skip
    max_attempts: int = Field(
        10, ge=1, le=1000, description="delivery attempts of one alert before it is failed"
    )
    retry_delay: float = Field(
        5.0, gt=0, le=3600, description="the first delivery retry's delay (then doubled)",
        json_schema_extra=SECONDS,
    )  # fmt: skip
    max_retry_delay: float = Field(
        600.0, gt=0, le=86400, description="the longest delay between delivery attempts",
        json_schema_extra=SECONDS,
    )  # fmt: skip
    interval: float = Field(
        1.0, gt=0, le=60, description="how often the alert keeper reads new events",
        json_schema_extra=SECONDS,
    )  # fmt: skip
    link: str | None = Field(
        None,
        max_length=2000,
        description="the dashboard's address as receivers reach it "
        "(`https://tss.example.com`), for the links in messages",
    )
    allow_private: bool = Field(
        False,
        description="let channels reach private and loopback addresses (checked when "
        "connecting, after DNS)",
    )
    allow: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="networks and host names channels may reach even when not public "
        "(as `http.allow`)",
    )
    check_on_start: bool = Field(
        True,
        description="connect to each SMTP server when the server starts and stop if one "
        "cannot be reached",
    )

    _durations = field_validator(
        "repeat_after", "retry_delay", "max_retry_delay", "interval", mode="before"
    )(seconds)

    @field_validator("channels")
    @classmethod
    def _check_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not CHANNEL_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a channel name: use 1-64 letters, digits, '-', '_', '.'"
                )
        return value

    @field_validator("link")
    @classmethod
    def _check_link(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"{value!r} is not an http(s) address such as https://tss.example")
        return None if value is None else value.rstrip("/")

    @field_validator("allow")
    @classmethod
    def _check_allow(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            parse_allow(entry)
        return entries

    @model_validator(mode="after")
    def _known_channels(self) -> AlertsConfig:
        for i, name in enumerate(self.default_channels):
            self._known(name, f"default_channels[{i}]")
        for i, rule in enumerate(self.rules):
            for name in rule.channels:
                self._known(name, f"rules[{i}].channels")
        return self

    def _known(self, name: str, key: str) -> None:
        if name not in self.channels:
            have = ", ".join(sorted(self.channels)) or "none"
            raise ValueError(f"{key}: no channel named {name!r} (channels: {have})")

    def channels_of(self, rule: AlertRule) -> list[str]:
        """The channels an alert of ``rule`` goes to."""
        return list(rule.channels or self.default_channels or self.channels)
