from __future__ import annotations

from pavlab.search.selection import pick_highest, pick_majority, pick_weighted


def test_pick_highest_takes_the_first_best() -> None:
    assert pick_highest([0.1, 0.7, 0.7, 0.2]) == 1
    assert pick_highest([]) is None


def test_majority_ignores_missing_answers_and_breaks_ties_by_first_seen() -> None:
    assert pick_majority([None, "3", "5", "5", None, None]) == 2
    assert pick_majority(["3", "5", "5", "3"]) == 0
    assert pick_majority([None, None]) is None


def test_weighted_vote_sums_scores_per_answer() -> None:
    answers = ["3", "5", "5", "3", None]
    # "5" has more votes but "3" has more total score; its best response (index 3) represents it
    assert pick_weighted(answers, [0.9, 0.2, 0.3, 0.95, 5.0]) == 3
    assert pick_weighted(answers, [0.1, 0.6, 0.6, 0.1, 0.0]) == 1
    assert pick_weighted([None], [1.0]) is None
