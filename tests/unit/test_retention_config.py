"""The ``retention:`` section and a job's own ``retention:`` at the door: durations in words,
null keeps forever, every mistake names its key; and the policy a job ends up with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from tss.config import ConfigError, Settings, load_config
from tss.core.jobspec import JobSpec
from tss.core.retention import JobRetention, Keep, id_bound, keep_for


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(str(path))


def test_ages_are_durations_and_null_keeps_forever(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "retention: {max_age: 30d, keep_last: 5, ledger_max_age: null, interval: 10m}\n",
    )
    retention = settings.retention
    assert retention.max_age == 30 * 86400 and retention.keep_last == 5
    assert retention.ledger_max_age is None and retention.interval == 600
    assert retention.alerts_max_age == 30 * 86400  # the default
    assert Settings().retention.keep == Keep(90 * 86400, 100)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("retention: {max_age: soon}", "retention.max_age"),
        ("retention: {max_age: 0}", "retention.max_age"),
        ("retention: {keep_last: -1}", "retention.keep_last"),
        ("retention: {batch_size: 0}", "retention.batch_size"),
        ("retention: {audit_max_age: forever}", "retention.audit_max_age"),
        ("retention: {max_days: 3}", "retention.max_days"),
    ],
)
def test_a_mistake_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text + "\n")
    assert key in str(caught.value)


def test_a_jobs_own_policy_overrides_the_global_one() -> None:
    default = Keep(90 * 86400, 100)
    spec = JobSpec(name="a", retention={"max_age": "7d"})
    assert keep_for(spec.retention, default) == Keep(7 * 86400, 100)
    assert keep_for(JobRetention(keep_last=3), default) == Keep(90 * 86400, 3)
    assert keep_for(JobRetention(keep_forever=True), default).cutoff(datetime.now(UTC)) is None
    assert keep_for(None, default) is default
    with pytest.raises(ValidationError) as caught:
        JobSpec(name="a", retention={"max_age": "later"})
    assert caught.value.errors()[0]["loc"] == ("retention", "max_age")
    with pytest.raises(ValidationError):
        JobSpec(name="a", retention={"keep": 3})


def test_the_id_bound_sorts_after_the_ids_made_before_the_cutoff() -> None:
    from tss.core.ids import new_id

    made = new_id()
    assert made < id_bound(datetime.now(UTC))
    assert made > id_bound(datetime.now(UTC) - timedelta(minutes=10))
