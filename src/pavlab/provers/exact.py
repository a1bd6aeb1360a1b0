"""Exact distinguishability and alignment on the planted task, for checking the estimators and the theory.

Why exact: on the planted task both the base policy pi = mu_{gamma_pi} (its next-step
distribution is `prover_probs`) and every candidate prover mu_gamma have exact values
(`exact_q_values`), so the two terms of the policy-improvement bound can be computed with no
sampling noise. A state's values depend only on its depth and its KMP match state, so pi's
state distribution is propagated over match states depth by depth, each state carrying one
representative prefix whose exact values stand for every prefix in that state.

Both terms are expectations over the H states a response of pi visits (one per step, states
after y* has appeared included, where every advantage is 0), then averaged over problems:

    distinguishability = E_s Var_{a~pi}[A^mu(s, a)],   alignment = E_s E_{a~pi}[A^mu(s, a) A^pi(s, a)].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pavlab.errors import PavlabError
from pavlab.tasks.base import Problem
from pavlab.tasks.planted import HORIZON, TOKENS, exact_q_values, prover_probs, target_of, transitions


@dataclass(frozen=True)
class ExactTerms:
    """The two terms of the bound for one (pi, mu) pair, and their sum (the ranking score)."""

    distinguishability: float
    alignment: float

    @property
    def total(self) -> float:
        return self.distinguishability + self.alignment


def _advantages(problem: Problem, prefix: list[str], gamma: float, horizon: int) -> np.ndarray:
    """A^{mu_gamma}(s, a) for every token a from the state after `prefix`."""
    rows = [exact_q_values(problem, [*prefix, str(token)], gamma, horizon)[-2:] for token in TOKENS]
    return np.array([child - parent for parent, child in rows])


def _problem_terms(problem: Problem, pi_gamma: float, mu_gamma: float, horizon: int) -> ExactTerms:
    target = target_of(problem)
    table = transitions(target)
    # match state -> (probability under pi at this depth, a representative prefix)
    frontier: dict[int, tuple[float, list[str]]] = {0: (1.0, [])}
    distinguishability = alignment = 0.0
    for _ in range(horizon):
        following: dict[int, tuple[float, list[str]]] = {}
        for state, (mass, prefix) in frontier.items():
            probs = np.array(prover_probs(target, state, pi_gamma))
            a_mu = _advantages(problem, prefix, mu_gamma, horizon)
            a_pi = _advantages(problem, prefix, pi_gamma, horizon)
            distinguishability += mass * (probs @ a_mu**2 - (probs @ a_mu) ** 2)
            alignment += mass * (probs @ (a_mu * a_pi))
            for p, token in zip(probs, TOKENS, strict=True):
                nxt = table[state][token]
                old_mass, old_prefix = following.get(nxt, (0.0, [*prefix, str(token)]))
                following[nxt] = (old_mass + mass * p, old_prefix)
        frontier = following
    return ExactTerms(distinguishability / horizon, alignment / horizon)


def exact_terms_planted(problems: Sequence[Problem], pi_gamma: float, mu_gamma: float,
                        horizon: int = HORIZON) -> ExactTerms:
    """Exact terms for base policy mu_{pi_gamma} and prover mu_{mu_gamma}, averaged over `problems`."""
    if not problems:
        raise PavlabError("exact terms need at least one planted problem", field="problems")
    terms = [_problem_terms(problem, float(pi_gamma), float(mu_gamma), horizon) for problem in problems]
    return ExactTerms(float(np.mean([t.distinguishability for t in terms])),
                      float(np.mean([t.alignment for t in terms])))
