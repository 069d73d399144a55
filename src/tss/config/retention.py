"""The ``retention:`` section: how long history is kept, and how the pruner works through it.
docs/retention.md has it all; a job's own ``retention:`` overrides ``max_age`` and
``keep_last`` (:class:`tss.core.retention.JobRetention`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from tss.config.values import SECONDS, Section, seconds
from tss.core.retention import Keep

DAY = 86400.0


class RetentionConfig(Section):
    """What the pruner deletes, and how fast."""

    enabled: bool = Field(
        True,
        description="prune by this policy in each scheduler process (one process works at a "
        "time); `tss db prune` works either way",
    )
    max_age: float | None = Field(
        90 * DAY,
        gt=0,
        description="ended runs (with their attempts, logs and events) that ended longer ago "
        "than this are pruned; null keeps them forever",
        json_schema_extra={"unit": "seconds", "shown": "90d"},
    )
    keep_last: int = Field(
        100, ge=0, le=1_000_000, description="the newest runs of each job are always kept"
    )
    alerts_max_age: float | None = Field(
        30 * DAY,
        gt=0,
        description="settled alerts (sent, failed, held, silenced) older than this are pruned; "
        "null keeps them",
        json_schema_extra={"unit": "seconds", "shown": "30d"},
    )
    audit_max_age: float | None = Field(
        365 * DAY,
        gt=0,
        description="audit log entries older than this are pruned; null keeps them",
        json_schema_extra={"unit": "seconds", "shown": "365d"},
    )
    ledger_max_age: float | None = Field(
        365 * DAY,
        gt=0,
        description="fire ledger rows (what became of the fires whose runs were pruned) "
        "older than this are pruned; null keeps them",
        json_schema_extra={"unit": "seconds", "shown": "365d"},
    )
    interval: float = Field(
        300.0,
        ge=1,
        le=7 * DAY,
        description="seconds between the pruner's passes",
        json_schema_extra=SECONDS,
    )
    batch_size: int = Field(
        500,
        ge=1,
        le=100_000,
        description="rows deleted per transaction; the pruner yields between batches so "
        "firing and claiming never wait long",
    )
    pause: float = Field(
        0.01,
        ge=0,
        le=60,
        description="the least rest between two batches (the pruner also rests ten times "
        "as long as the last batch took)",
        json_schema_extra=SECONDS,
    )

    _durations = field_validator(
        "max_age",
        "alerts_max_age",
        "audit_max_age",
        "ledger_max_age",
        "interval",
        "pause",
        mode="before",
    )(seconds)

    @property
    def keep(self) -> Keep:
        """The global policy of a job's runs."""
        return Keep(self.max_age, self.keep_last)
