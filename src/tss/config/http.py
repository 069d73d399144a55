"""The ``http:`` section: what the built-in ``http`` task type may reach, and how much of
an answer it keeps. :class:`~tss.tasks.http.HttpTask` takes it as it is."""

from __future__ import annotations

from pydantic import Field, field_validator

from tss.config.values import BYTES, SECONDS, Section, byte_size, seconds
from tss.net.guard import parse_allow


class HttpConfig(Section):
    """Outbound HTTP calls of ``http`` jobs (webhooks)."""

    allow_private: bool = Field(
        False,
        description="let `http` jobs reach private, loopback, link-local and other "
        "non-public addresses (checked when connecting, after DNS); cloud metadata "
        "addresses (169.254.169.254...) stay refused unless `http.allow` names them",
    )
    allow: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="networks (`10.1.0.0/16`, `127.0.0.1/32`, `fd00::/8`) and host names "
        "(`hooks.internal.example`, `*.internal.example`) `http` jobs may reach even when "
        "they are not public; a name is trusted whatever it resolves to",
    )
    max_response: int = Field(
        16 << 10,
        ge=0,
        le=16 << 20,
        description="bytes of a response body read and kept in the run's result (the rest "
        "is not read; the result says `truncated`)",
        json_schema_extra=BYTES,
    )
    max_connections: int = Field(
        100,
        ge=1,
        le=10000,
        description="connections a worker keeps open to webhook hosts at once (kept alive "
        "and reused between runs)",
    )
    keepalive: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="how long an idle connection is kept for the next call",
        json_schema_extra=SECONDS,
    )

    _durations = field_validator("keepalive", mode="before")(seconds)
    _sizes = field_validator("max_response", mode="before")(byte_size)

    @field_validator("allow")
    @classmethod
    def _check_allow(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            parse_allow(entry)  # its ValueError is the key's error, in words
        return entries
