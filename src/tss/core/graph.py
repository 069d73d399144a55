"""Dependency graph checks for job definitions (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts (``[a, b, c, a]``), or None.

    ``parents`` maps each job to the jobs it depends on; names missing from the mapping
    are taken to have no parents.
    """
    white, grey, black = 0, 1, 2
    colour: dict[str, int] = {}
    for root in sorted(parents):
        if colour.get(root, white) != white:
            continue
        # Iterative DFS, so a long chain cannot hit the recursion limit.
        path: list[str] = [root]
        stack = [iter(sorted(parents.get(root, ())))]
        colour[root] = grey
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                colour[path.pop()] = black
                continue
            state = colour.get(child, white)
            if state == grey:
                cycle = [*path[path.index(child) :], child]
                # Report it in dependency order: a -> b means b depends on a.
                return list(reversed(cycle))
            if state == white:
                colour[child] = grey
                path.append(child)
                stack.append(iter(sorted(parents.get(child, ()))))
    return None
