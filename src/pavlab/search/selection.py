"""How one response is picked from a set: highest score, majority vote, or verifier-weighted vote."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pick_highest(scores: Sequence[float]) -> int | None:
    """Index of the best score (the first on ties); None for an empty set."""
    if not scores:
        return None
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def pick_majority(answers: Sequence[str | None]) -> int | None:
    """First response carrying the most common answer (ties: the answer seen first); None if no answers."""
    counts: dict[str, int] = {}
    for answer in answers:
        if answer is not None:
            counts[answer] = counts.get(answer, 0) + 1
    if not counts:
        return None
    winner = max(counts, key=lambda a: counts[a])  # dicts keep first-seen order, max keeps the first maximum
    return answers.index(winner)


def pick_weighted(answers: Sequence[str | None], scores: Sequence[float]) -> int | None:
    """The answer with the largest summed score; its best-scored response represents it."""
    totals: dict[str, float] = {}
    for answer, score in zip(answers, scores, strict=True):
        if answer is not None and math.isfinite(score):
            totals[answer] = totals.get(answer, 0.0) + score
    if not totals:
        return None
    winner = max(totals, key=lambda a: totals[a])
    members = [i for i, answer in enumerate(answers) if answer == winner]
    return members[pick_highest([scores[i] for i in members])]  # type: ignore[index]
