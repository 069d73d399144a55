"""The diff of two job definitions (``tss.core.history.spec_diff``) and the masking of a
version and of a diff's values for callers who may not read secrets."""

from __future__ import annotations

from tss.api.schemas.history import masked_spec, masked_value
from tss.core.history import AUDIT_ACTIONS, Change, spec_diff


def test_nested_keys_are_dotted_and_lists_compare_whole() -> None:
    old = {"name": "a", "schedule": {"cron": "0 2 * * *", "jitter": 0}, "tags": ["x", "y"]}
    new = {"name": "a", "schedule": {"cron": "0 3 * * *", "jitter": 0}, "tags": ["y", "x"]}
    assert spec_diff(old, new) == [
        Change("schedule.cron", "0 2 * * *", "0 3 * * *"),
        Change("tags", ["x", "y"], ["y", "x"]),
    ]


def test_added_and_removed_keys_and_a_missing_side() -> None:
    assert spec_diff({"a": 1}, {"b": {"c": 2}}) == [
        Change("a", 1, None, "removed"),
        Change("b", None, {"c": 2}, "added"),
    ]
    assert spec_diff(None, {"a": {"b": 1}}) == [Change("a", None, {"b": 1}, "added")]
    assert spec_diff({"a": 1}, None) == [Change("a", 1, None, "removed")]
    assert spec_diff(None, None) == []
    assert spec_diff({"a": {"b": [1]}}, {"a": {"b": [1]}}) == []


def test_a_value_that_becomes_a_mapping_or_changes_type_is_a_change() -> None:
    assert spec_diff({"s": "*/5 * * * *"}, {"s": {"cron": "*/5 * * * *"}}) == [
        Change("s", "*/5 * * * *", {"cron": "*/5 * * * *"})
    ]
    assert spec_diff({"n": 1}, {"n": 1.0}) == [Change("n", 1, 1.0)]
    assert spec_diff({"n": 1}, {"n": True}) == [Change("n", 1, True)]


def test_actions_are_dotted_and_unique() -> None:
    assert len(set(AUDIT_ACTIONS)) == len(AUDIT_ACTIONS)
    # <what>.<verb>, or a verb on a part of it: job.backfill.stop
    assert all(1 <= a.count(".") <= 2 and "" not in a.split(".") for a in AUDIT_ACTIONS)


def test_secret_params_are_masked_below_admin_in_specs_and_diffs() -> None:
    spec = {"name": "a", "params": {"env": {"PW": "s3cret", "REF": {"from_env": "X"}},
                                    "argv": ["run"]}}  # fmt: skip
    masked = masked_spec(spec, reveal=False)
    assert masked is not None
    assert masked["params"] == {"env": {"PW": "***", "REF": {"from_env": "X"}}, "argv": ["run"]}
    assert masked_spec(spec, reveal=True) == spec and masked_spec(None, reveal=False) is None
    assert masked_value("params.env.PW", "s3cret", reveal=False) == "***"
    assert masked_value("params.env.REF", {"from_env": "X"}, reveal=False) == {"from_env": "X"}
    assert masked_value("params.env", {"PW": "s3cret"}, reveal=False) == {"PW": "***"}
    assert masked_value("params.headers.Authorization", "Bearer t", reveal=False) == "***"
    url = masked_value("params.url", "https://u:pw@h.example/x?token=t", reveal=False)
    assert "pw" not in url and "token=t" not in url
    assert masked_value("params", {"env": {"PW": "s"}}, reveal=False) == {"env": {"PW": "***"}}
    assert masked_value("params.argv", ["run"], reveal=False) == ["run"]
    assert masked_value("params.env.PW", "s3cret", reveal=True) == "s3cret"
    assert masked_value("params.env.PW", None, reveal=False) is None
    assert masked_value("priority", 3, reveal=False) == 3
