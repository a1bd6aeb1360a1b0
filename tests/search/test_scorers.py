from __future__ import annotations

import numpy as np
import pytest

from pavlab.errors import PavlabError
from pavlab.search.scorers import OracleScorer, VerifierScorer, aggregate, build_scorer
from pavlab.tasks.base import Problem
from pavlab.tasks.countdown import CountdownTask
from pavlab.tasks.planted import PlantedTask

PROBLEM_STEPS = [["2 + 3 = 5 | 4 5", "5 * 4 = 20 | 20"],  # solves "2 3 4 -> 20"
                 ["3 * 4 = 12 | 2 12", "12 + 2 = 14 | 14"],  # dead after step 1
                 ["2 + 3 = 5 | 4 5"]]  # alive, unfinished


def test_oracle_scores_are_exact_prefix_values() -> None:
    task = CountdownTask(n_numbers=3, max_number=9)
    problem = Problem(id="p", question="2 3 4 -> 20", answer="20", meta={"numbers": [2, 3, 4], "target": 20})
    scores = OracleScorer(task).score([problem] * 3, PROBLEM_STEPS)
    np.testing.assert_array_equal(scores[0].steps, [1.0, 1.0])
    np.testing.assert_array_equal(scores[1].steps, [0.0, 0.0])
    np.testing.assert_array_equal(scores[2].steps, [1.0])
    assert [s.final for s in scores] == [1.0, 0.0, 0.0]


def test_verifier_scores_read_q_a_and_effective_reward(random_verifier, small_countdown) -> None:
    problems = small_countdown.problems("test", 2)
    steps = [["1 + 2 = 3 | 3 4"], ["4 - 1 = 3 | 3 5", "3 + 5 = 8 | 8"]]
    raw = random_verifier.score([small_countdown.prompt(p) for p in problems], steps)
    read = {name: VerifierScorer(random_verifier, small_countdown, name, alpha=0.5).score(problems, steps)
            for name in ("q", "a", "q+a")}
    for index, full in enumerate(raw):
        np.testing.assert_allclose(read["q"][index].steps, full.q_pi[1:])
        np.testing.assert_allclose(read["a"][index].steps, full.advantages)
        np.testing.assert_allclose(read["q+a"][index].steps, full.q_pi[1:] + 0.5 * full.advantages)
        assert all(r[index].final == pytest.approx(full.q_pi[-1]) for r in read.values())
    assert not np.allclose(read["q"][1].steps, read["q+a"][1].steps)


def test_aggregates() -> None:
    scores = np.array([0.9, 0.5, 0.8])
    assert aggregate(scores, "last") == 0.8
    assert aggregate(scores, "min") == 0.5
    assert aggregate(scores, "prod") == pytest.approx(0.36)
    assert aggregate(np.array([]), "min") == float("-inf")


@pytest.mark.parametrize("call, message", [
    (lambda t, v: build_scorer("prm800k", t, v), "unknown scorer 'prm800k'"),
    (lambda t, v: build_scorer("q+a", t, None), "needs a verifier"),
    (lambda t, v: VerifierScorer(v, t, "oracle"), "unknown verifier score"),
    (lambda t, v: OracleScorer(PlantedTask()), "exact oracle"),
    (lambda t, v: aggregate(np.array([1.0]), "mean"), "unknown aggregate 'mean'"),
])
def test_unknown_scorers_are_one_line_errors(call, message, small_countdown, random_verifier) -> None:
    with pytest.raises(PavlabError, match=message) as info:
        call(small_countdown, random_verifier)
    assert "\n" not in str(info.value)
