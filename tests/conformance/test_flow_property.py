"""A property of flows on every store: over random graphs with random outcomes, every run
of a flow ends terminal, and each run's state agrees with its parents' states and its rule."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tss.core.states import RunState
from tss.store.base import Store

from .conftest import Backend
from .flows import define, drive, start

S = RunState
#: the conditions as DESIGN.md section 6 and docs/flows.md state them (not read from the code)
SATISFIES = {
    "success": {S.SUCCEEDED},
    "failure": {S.FAILED, S.TIMED_OUT},
    "completion": {S.SUCCEEDED, S.FAILED, S.TIMED_OUT},
}
_names = itertools.count()


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[tuple[list[tuple[int, str]], str]], list[RunState]]:
    """Job 0 is the root; each later job depends on 1-3 earlier ones (so all are below the
    root), each edge with a condition, each job with a rule; and each job's outcome."""
    size = draw(st.integers(2, 8))
    jobs: list[tuple[list[tuple[int, str]], str]] = [([], "all")]
    for i in range(1, size):
        parents = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
        conditions = st.sampled_from(sorted(SATISFIES))
        edges = [(p, draw(conditions)) for p in parents]
        jobs.append((edges, draw(st.sampled_from(["all", "any"]))))
    outcomes = draw(
        st.lists(
            st.sampled_from([S.SUCCEEDED, S.FAILED, S.TIMED_OUT]), min_size=size, max_size=size
        )
    )
    return jobs, outcomes


async def _check(
    store: Store, jobs: list[tuple[list[tuple[int, str]], str]], outcomes: list[RunState]
) -> None:
    tag = next(_names)
    names = [f"p{tag}-{i}" for i in range(len(jobs))]
    specs: list[tuple[str, Any]] = []
    for i, (edges, rule) in enumerate(jobs):
        deps = [{"job": names[p], "on": on} for p, on in edges]
        specs.append((names[i], {"depends_on": deps, "trigger_rule": rule}))
    defined = await define(store, *specs)
    flow = await start(store, defined[names[0]])
    final = await drive(store, flow, dict(zip(names, outcomes, strict=True)))
    assert set(final) == set(names)
    assert all(state.terminal for state in final.values()), final
    assert final[names[0]] is outcomes[0]
    for i, (edges, rule) in enumerate(jobs[1:], start=1):
        met = [final[names[p]] in SATISFIES[on] for p, on in edges]
        holds = all(met) if rule == "all" else any(met)
        expected = outcomes[i] if holds else S.SKIPPED
        assert final[names[i]] is expected, (names[i], edges, rule, final)


def test_random_flows_end_as_their_rules_say(
    store: Store, backend: Backend, run: Callable[..., Any]
) -> None:
    examples = 150 if backend.fake_clock else 20

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(graphs())
    def check(case: tuple[list[tuple[list[tuple[int, str]], str]], list[RunState]]) -> None:
        run(_check(store, *case))

    check()
