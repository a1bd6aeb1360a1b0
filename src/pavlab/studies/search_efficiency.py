"""Compute efficiency of one search method over another, read off accuracy-vs-compute curves.

Why its own module: the paper's headline numbers ("1.5-5x more compute-efficient", "+8-10% at
equal compute") are two readings of the same pair of curves, and they must be computed the same
way for every study and every compute unit (tokens generated, samples). Budgets grow
geometrically, so both readings interpolate linearly in log-compute between measured points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _sorted_points(compute: Sequence[float], accuracy: Sequence[float]) -> list[tuple[float, float]]:
    if len(compute) != len(accuracy) or not compute:
        raise ValueError("a curve needs as many compute values as accuracies, and at least one point")
    if min(compute) <= 0:
        raise ValueError("compute must be positive to interpolate on a log scale")
    return sorted(zip(compute, accuracy, strict=True))


def accuracy_at(compute: Sequence[float], accuracy: Sequence[float], at: float) -> float | None:
    """Accuracy of the curve at compute `at` (log-linear interpolation); None outside the measured range."""
    points = _sorted_points(compute, accuracy)
    if not points[0][0] <= at <= points[-1][0]:
        return None
    for (c0, a0), (c1, a1) in zip(points, points[1:], strict=False):
        if c0 <= at <= c1:
            t = 0.0 if c1 == c0 else (math.log(at) - math.log(c0)) / (math.log(c1) - math.log(c0))
            return a0 + t * (a1 - a0)
    return points[-1][1]


def compute_to_reach(compute: Sequence[float], accuracy: Sequence[float], target: float) -> tuple[float | None, str]:
    """Compute at which the curve first reaches `target`, and how exact that is.

    "exact": interpolated between the two measured points around the crossing; "at_most": the
    cheapest point already reaches it (the true need may be lower); "unreached": no point does.
    """
    points = _sorted_points(compute, accuracy)
    if points[0][1] >= target:
        return points[0][0], "at_most"
    for (c0, a0), (c1, a1) in zip(points, points[1:], strict=False):
        if a1 >= target:
            t = (target - a0) / (a1 - a0)
            return math.exp(math.log(c0) + t * (math.log(c1) - math.log(c0))), "exact"
    return None, "unreached"


def efficiency(baseline: tuple[Sequence[float], Sequence[float]],
               method: tuple[Sequence[float], Sequence[float]]) -> dict[str, Any]:
    """How much less compute `method` needs to match `baseline` at its most expensive point, and its gain there.

    Both are `(compute, accuracy)` curves. `ratio` is baseline compute / method compute at the
    baseline's accuracy (a lower bound when `bound` is "at_least", None when the method never
    gets there, or when the baseline solves nothing: bound "trivial", any method matches 0%);
    `gain` is method accuracy minus baseline accuracy at the baseline's largest compute.
    """
    points = _sorted_points(*baseline)
    top_compute, target = points[-1]
    needed, how = compute_to_reach(*method, target) if target > 0 else (None, "trivial")
    method_accuracy = accuracy_at(*method, top_compute)
    return {"target_accuracy": target, "baseline_compute": top_compute, "method_compute": needed,
            "ratio": None if needed is None else top_compute / needed,
            "bound": {"exact": "exact", "at_most": "at_least", "unreached": "unreached", "trivial": "trivial"}[how],
            "gain": None if method_accuracy is None else method_accuracy - target}
