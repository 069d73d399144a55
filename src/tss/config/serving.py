"""The sections of the HTTP face and of logging."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tss.config.values import BYTES, SECONDS, Section, byte_size, seconds, shown


class LoggingConfig(Section):
    """What TSS's own processes log, and how."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR`"
    )
    format: Literal["text", "json"] = Field(
        "text", description="`text` or `json` (one JSON object per line)"
    )
    output: Literal["stderr", "stdout", "file"] | None = Field(
        None,
        description="`stderr`, `stdout` or `file` (default: `file` when `file` is set, else "
        "`stderr`)",
        json_schema_extra=shown("stderr, or file"),
    )
    file: str | None = Field(
        None,
        description="the log file of a serving process, relative to the config file; each "
        "component writes its own beside it (`tss.log`: `tss-server.log`, "
        "`tss-scheduler.log`, `tss-worker.log`, `tss-api.log`); the seeds' `log_file`",
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ServerConfig(Section):
    """Where ``tss server`` and ``tss api`` serve HTTP."""

    host: str = Field(
        "127.0.0.1", description="the address `tss server` and `tss api` serve the REST API on"
    )
    port: int = Field(
        8000, ge=0, le=65535, description="their port; 0 picks a free port (the banner prints it)"
    )
    tls_cert: str | None = Field(
        None,
        description="a PEM certificate: serve HTTPS. Both `tls_cert` and `tls_key` or "
        "neither; relative to the config file",
    )
    tls_key: str | None = Field(None, description="the PEM key that goes with `tls_cert`")


class ApiConfig(Section):
    """The REST API."""

    auth: bool = Field(
        True,
        description="require a bearer token on every route but `/healthz` and `/readyz`. "
        "`false` is refused unless `server.host` is a loopback address",
    )
    admin_token: str | None = Field(
        None,
        min_length=16,
        description="a first admin token (at least 16 characters), compared in constant "
        "time and never stored; set it with `TSS_ADMIN_TOKEN`",
    )
    max_body: int = Field(
        1 << 20,
        ge=1024,
        description="request bodies larger than this get 413 (`512k`, `2MB`, `1048576`)",
        json_schema_extra=BYTES,
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="browser origins allowed to call the API; none by default (CORS off)",
    )
    docs: bool = Field(
        True,
        description="serve Swagger UI at `/api/v1/docs` (its files ship in the package: it "
        "works offline); like the OpenAPI document, it needs the viewer role",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="a connection must send each request's line and headers within this of "
        "the server waiting for them (connect, or the end of the previous response), or it "
        "is closed (slowloris). Bodies are not covered: put a reverse proxy in front in "
        "production",
        json_schema_extra=SECONDS,
    )

    _size = field_validator("max_body", mode="before")(byte_size)
    _header_timeout = field_validator("header_timeout", mode="before")(seconds)
