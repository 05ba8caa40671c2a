"""The size-versus-quality Pareto frontier: the points no other point beats on both size and quality."""
from __future__ import annotations

from collections.abc import Hashable, Iterable


def pareto_frontier(points: Iterable[tuple[Hashable, float, float]], *, higher_is_better: bool = False) -> list:
    """Keys of the frontier points, smallest size first. points: (key, size, value).

    O(n log n): sort by size (the better value first among equal sizes), then one sweep keeping the best
    value seen so far; a point is on the frontier when it is strictly better than every smaller point.
    Of exact ties, the first one given is kept (the sort is stable).
    """
    sign = -1.0 if higher_is_better else 1.0
    ordered = sorted(points, key=lambda p: (p[1], sign * p[2]))
    frontier, best = [], float("inf")
    for key, _size, value in ordered:
        if sign * value < best:
            frontier.append(key)
            best = sign * value
    return frontier
