"""Capability routing, the pure parts: labels and ``requires`` validated at the door, the
rule that says whether a worker may take a run, and the broker message that carries it."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError as PydanticError

from tss.broker.base import RunMessage
from tss.core.models import JobSpec, RetryPolicy, RunPolicy
from tss.core.workers import MAX_LABELS, can_take, check_labels
from tss.errors import BrokerError


def test_labels_are_names_or_name_value_pairs_kept_in_order_without_repeats() -> None:
    assert check_labels(["gpu", "region=eu", "gpu", "zone=eu-west-1a", "os=linux/amd64"]) == [
        "gpu", "region=eu", "zone=eu-west-1a", "os=linux/amd64",
    ]  # fmt: skip
    assert check_labels([]) == []


@pytest.mark.parametrize(
    "label", ["", "has space", "=eu", "region=", "-gpu", "a=b=c", "x" * 65, "é", "a,b"]
)
def test_a_bad_label_is_refused_with_how_to_write_one(label: str) -> None:
    with pytest.raises(ValueError, match="is not a label: write a name such as 'gpu'"):
        check_labels([label])


def test_too_many_labels_are_refused() -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_LABELS}"):
        check_labels([f"l{i}" for i in range(MAX_LABELS + 1)])


def test_a_job_requires_labels_and_its_runs_keep_them_sorted() -> None:
    spec = JobSpec(name="train", type="python", requires=["region=eu", "gpu", "gpu"])
    assert spec.requires == ["region=eu", "gpu"]
    policy = RunPolicy.of(spec)
    assert policy.requires == ("gpu", "region=eu")
    assert policy.to_dict()["requires"] == ["gpu", "region=eu"]
    assert RunPolicy.from_dict(policy.to_dict()) == policy
    # none required: the key is not written, and a policy without it reads as none
    plain = RunPolicy.of(JobSpec(name="plain"))
    assert "requires" not in plain.to_dict()
    assert RunPolicy.from_dict(plain.to_dict()).requires == ()


@pytest.mark.parametrize("requires", [["bad label"], "gpu", [1]])
def test_a_bad_requires_is_refused_naming_the_key(requires: object) -> None:
    with pytest.raises(PydanticError) as info:
        JobSpec.model_validate({"name": "train", "requires": requires})
    assert [error["loc"][0] for error in info.value.errors()] == ["requires"]


def policy(task_type: str = "noop", requires: tuple[str, ...] = ()) -> RunPolicy:
    return RunPolicy(task_type, None, "auto", RetryPolicy(), requires=requires)


def test_a_worker_may_take_a_run_of_its_types_whose_labels_it_all_has() -> None:
    types = frozenset({"noop", "shell"})
    assert can_take(policy(), types, frozenset())
    assert can_take(policy(), None, frozenset())  # None: any type
    assert not can_take(policy("http"), types, frozenset({"gpu"}))
    assert not can_take(policy(requires=("gpu",)), types, frozenset())
    assert not can_take(policy(requires=("gpu", "region=eu")), types, frozenset({"gpu"}))
    assert can_take(policy(requires=("gpu", "region=eu")), types, frozenset({"region=eu", "gpu"}))
    # a run whose stored policy is unreadable goes to anyone, who fails it with the reason
    assert can_take(RunPolicy.quarantined("http", "damaged"), frozenset(), frozenset())


def test_a_message_carries_the_type_and_labels_and_an_older_one_still_reads() -> None:
    message = RunMessage("r1", "job", "default", 3, 0.5, 256, None, "shell", ("gpu", "ssd"))
    body = orjson.loads(message.to_json())
    assert (body["type"], body["requires"]) == ("shell", ["gpu", "ssd"])
    assert RunMessage.from_json(message.to_json()) == message
    assert RunMessage.all_from_json(RunMessage.bundle_json([message, message])) == [message] * 2
    older = b'{"v":1,"run_id":"r","job":"j","pool":"p","priority":0,"cores":0,"memory":0}'
    read = RunMessage.from_json(older)
    assert (read.task_type, read.requires) == (None, ())
    plain = RunMessage("r2", "job", "default", task_type="noop")
    assert "requires" not in orjson.loads(plain.to_json())  # written only when there are some


@pytest.mark.parametrize(
    ("extra", "words"),
    [(b'"type":5', "'type' has the wrong type"), (b'"requires":"gpu"', "'requires' is not")],
)
def test_a_message_with_a_bad_type_or_labels_is_refused(extra: bytes, words: str) -> None:
    body = b'{"v":1,"run_id":"r","job":"j","pool":"p","priority":0,"cores":0,"memory":0,' + extra
    with pytest.raises(BrokerError, match=words):
        RunMessage.from_json(body + b"}")


def test_a_stored_policy_starts_with_its_type() -> None:
    """The PostgreSQL claim reads a run's type from the start of its policy's text, without
    parsing it (``tss.store.postgres.queries._TYPE``): the type must come first."""
    from tss.store.encoding import policy_text

    spec = JobSpec(name="j", type="shell", requires=["gpu"], retries={"max": 2}, timeout=5)
    assert policy_text(RunPolicy.of(spec)).startswith('{"type":"shell",')
