"""The broker message format: one run, a bundle of runs, and a run's time."""

from __future__ import annotations

import orjson
import pytest

from tss.broker.base import RunMessage
from tss.errors import BrokerError


def test_a_message_round_trips_with_and_without_its_time() -> None:
    plain = RunMessage("r1", "job", "default", 3, 0.5, 256)
    timed = RunMessage("r2", "job", "io", 0, 0.0, 0, 1_800_000_000.25)
    assert RunMessage.from_json(plain.to_json()) == plain
    assert RunMessage.from_json(timed.to_json()) == timed
    assert "not_before" not in orjson.loads(plain.to_json())  # older readers see no change
    assert RunMessage.all_from_json(RunMessage.bundle_json([plain, timed])) == [plain, timed]
    assert RunMessage.all_from_json(RunMessage.bundle_json([timed])) == [timed]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{", "not JSON"),
        (b'{"v": 2}', "not a version-1 run message"),
        (b'{"v": 1, "run_id": "r"}', "lacks field 'job'"),
        (
            b'{"v":1,"run_id":"r","job":"j","pool":"p","priority":0,"cores":0,"memory":0,'
            b'"not_before":"soon"}',
            "'not_before' has the wrong type",
        ),
        (b'{"v": 1, "bundle": []}', "'bundle' is not a list of messages"),
    ],
)
def test_a_bad_body_is_refused_with_the_reason(body: bytes, words: str) -> None:
    with pytest.raises(BrokerError, match=words):
        RunMessage.all_from_json(body)
