"""The two terms of the bound: exact planted values against hand computation, and the label estimators."""

from __future__ import annotations

import numpy as np
import pytest

from pavlab.labeling.format import LabeledResponse
from pavlab.provers.exact import exact_terms_planted
from pavlab.provers.rank import bok_prover
from pavlab.provers.terms import bootstrap_weights, collect_transitions, interval, term_sums
from pavlab.tasks.planted import VOCAB_SIZE, PlantedTask


def test_exact_terms_match_hand_computation_when_only_the_exact_sequence_wins():
    """Horizon 5: only y* itself succeeds, so on-track states are the only ones with nonzero advantages.

    At the on-track state of depth h, a prover with per-step hit rate p has V = p^(5-h); the right
    token has A = p^(4-h)(1-p), any other A = -p^(5-h). pi reaches it with probability p_pi^h.
    """
    problems = PlantedTask().problems("test", 2, seed=0)
    pi_gamma, mu_gamma, horizon = 5.0, 10.0, 5
    p_pi, p_mu = pi_gamma / (pi_gamma + VOCAB_SIZE - 1), mu_gamma / (mu_gamma + VOCAB_SIZE - 1)
    distinguishability = alignment = 0.0
    for h in range(horizon):
        reach = p_pi**h
        right_mu, wrong_mu = p_mu ** (4 - h) * (1 - p_mu), -(p_mu ** (5 - h))
        right_pi, wrong_pi = p_pi ** (4 - h) * (1 - p_pi), -(p_pi ** (5 - h))
        distinguishability += reach * p_pi * (1 - p_pi) * (right_mu - wrong_mu) ** 2
        alignment += reach * (p_pi * right_mu * right_pi + (1 - p_pi) * wrong_mu * wrong_pi)
    terms = exact_terms_planted(problems, pi_gamma, mu_gamma, horizon=horizon)
    assert terms.distinguishability == pytest.approx(distinguishability / horizon, rel=1e-9)
    assert terms.alignment == pytest.approx(alignment / horizon, rel=1e-9)
    assert terms.total == pytest.approx((distinguishability + alignment) / horizon, rel=1e-9)


def test_exact_prover_equal_to_pi_has_equal_terms():
    """With mu = pi, E_pi[A^pi] = 0, so Var_pi[A^pi] and E[A^pi * A^pi] coincide."""
    problems = PlantedTask().problems("test", 2, seed=1)
    terms = exact_terms_planted(problems, 5, 5)
    assert terms.distinguishability > 0
    assert terms.distinguishability == pytest.approx(terms.alignment, rel=1e-9)


def row(steps: str, q_hat: list[float | None], origin: str = "random", problem: str = "p") -> LabeledResponse:
    return LabeledResponse(problem, "", steps.split(), False, q_hat, origin=origin)


# Three random seeds of one problem: the root has three children (a, a, b); state "a" has two (c, d).
ROWS = [row("a c", [0.4, 0.6, 1.0]), row("a d", [0.4, 0.6, 0.0]), row("b e", [0.4, 0.2, 0.0])]


def test_bok1_alignment_is_mean_squared_advantage_and_variance_uses_sibling_states_only():
    transitions = collect_transitions(ROWS)
    sums = term_sums(transitions, *bok_prover(1)(transitions))
    (dist,), (align,) = sums.terms(np.ones((1, 1)))
    advantages = [0.2, 0.4, 0.2, -0.6, -0.2, -0.2]
    assert align == pytest.approx(np.mean(np.square(advantages)))
    root_var = np.var([0.2, 0.2, -0.2], ddof=1)  # three children of the prompt
    a_var = np.var([0.4, -0.6], ddof=1)  # two children of "a"
    assert sums.sibling_states == 2
    assert dist == pytest.approx((3 * root_var + 2 * a_var) / 5)


def test_first_pit_rows_count_only_their_fresh_steps_and_only_when_asked():
    pit = row("b f", [0.4, 0.2, 0.0], origin="first_pit")
    assert len(collect_transitions([*ROWS, pit])) == 6
    with_pit = collect_transitions([*ROWS, pit], use_first_pit=True)
    assert len(with_pit) == 7
    assert with_pit.child[-1] == ("p", ("b", "f"), True)


def test_unlabeled_steps_are_skipped():
    transitions = collect_transitions([row("a b c", [0.5, None, 0.5, 1.0])])
    assert [t[1] for t in transitions.child] == [("a", "b", "c")]


def test_bootstrap_weights_resample_problems_with_replacement():
    weights = bootstrap_weights(7, 50, seed=3)
    assert weights.shape == (50, 7)
    assert np.all(weights.sum(axis=1) == 7)
    assert np.array_equal(weights, bootstrap_weights(7, 50, seed=3))
    estimate = interval(0.5, np.linspace(0, 1, 101))
    assert (estimate.low, estimate.high) == pytest.approx((0.025, 0.975))
