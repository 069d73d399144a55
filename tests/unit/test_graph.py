"""Dependency cycle detection."""

from __future__ import annotations

from tss.core.graph import find_cycle


def test_no_cycle_in_a_dag() -> None:
    assert find_cycle({"b": ["a"], "c": ["a", "b"], "a": []}) is None


def test_self_loop() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_cycle_is_named_in_dependency_order() -> None:
    # b depends on a, c on b, a on c: a -> b -> c -> a
    cycle = find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]})
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert len(cycle) == 4
    text = " -> ".join(cycle)
    assert text in {"a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"}


def test_long_chain_does_not_recurse() -> None:
    graph = {f"j{i}": [f"j{i - 1}"] for i in range(1, 5000)}
    assert find_cycle(graph) is None
    graph["j0"] = ["j4999"]
    assert find_cycle(graph) is not None
