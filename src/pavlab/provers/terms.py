"""Distinguishability and alignment of a candidate prover, estimated from Monte Carlo labels.

The paper's bound says a policy update with effective reward Q^pi + alpha * A^mu gains with

    distinguishability = E_s Var_{a~pi}[A^mu(s, a)]   (the prover tells pi's actions apart)
    alignment          = E_{s, a~pi}[A^mu(s, a) * A^pi(s, a)]   (it agrees with pi's own progress)

Both are measured on transitions already labeled by `pavlab label`: row step h is a sample of
an action of pi from state s_{h-1} (problem + the steps before h), A^pi = q_hat[h] - q_hat[h-1]
and A^mu is the same difference of the candidate's values (`ProverValues`).

Sparse siblings: Var over actions needs several actions from one state. Only states with at
least two labeled children contribute to distinguishability (the bare prompt always has n_cov;
deeper states only when seeds happen to share a prefix), each with its unbiased sample
variance, weighted by its number of children (how often pi's responses pass through it). So
the term is dominated by shallow states; `TermEstimates.sibling_states` says how many were used.

First-pit rows are failed continuations selected *because* they failed, so they are not
samples of pi's actions; by default they are left out. With `use_first_pit=True` a first-pit
row contributes only its transitions past the prefix it copied from a random seed.

Both terms are plug-in estimates: MC noise in q_hat (about q(1-q)/n_mc per state) enters the
squared terms, and for `bok:K` provers also the product, because A^mu and A^pi are then
computed from the same noisy labels.

Confidence intervals: a percentile bootstrap over problems (resample problems with
replacement, recompute both terms), from per-problem sums so it costs one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pavlab.labeling.format import LabeledResponse

PrefixKey = tuple[str, tuple[str, ...], bool]
"""(problem_id, steps so far, whether the response has ended): one labeled state."""


def state_key(row: LabeledResponse, h: int) -> PrefixKey:
    """The state after the first h steps of `row`."""
    return row.problem_id, tuple(row.steps[:h]), h == len(row.steps)


@dataclass
class Transitions:
    """Labeled transitions s_{h-1} -> s_h that count as samples of pi's actions.

    `problem` and `state` index the problem and the parent state of each transition;
    `parent` / `child` are the keys for looking up other values of the same prefixes.
    """

    problem_ids: list[str]
    problem: np.ndarray
    state: np.ndarray
    q_parent: np.ndarray
    q_child: np.ndarray
    parent: list[PrefixKey]
    child: list[PrefixKey]

    def __len__(self) -> int:
        return len(self.parent)


def collect_transitions(rows: Sequence[LabeledResponse], use_first_pit: bool = False) -> Transitions:
    """Every transition with both ends labeled, from random rows (and first-pit rows' fresh part)."""
    random_prefixes = {state_key(row, h)[:2] for row in rows if row.origin != "first_pit"
                       for h in range(len(row.steps) + 1)}
    problems: dict[str, int] = {}
    states: dict[PrefixKey, int] = {}
    problem, state, q_parent, q_child, parents, children = [], [], [], [], [], []
    for row in rows:
        if row.origin == "first_pit" and not use_first_pit:
            continue
        for h in range(1, len(row.steps) + 1):
            before, after = row.q_hat[h - 1], row.q_hat[h]
            if before is None or after is None:
                continue
            parent, child = state_key(row, h - 1), state_key(row, h)
            if row.origin == "first_pit" and child[:2] in random_prefixes:
                continue
            problem.append(problems.setdefault(row.problem_id, len(problems)))
            state.append(states.setdefault(parent, len(states)))
            q_parent.append(before)
            q_child.append(after)
            parents.append(parent)
            children.append(child)
    return Transitions(list(problems), np.array(problem, dtype=np.int64), np.array(state, dtype=np.int64),
                       np.array(q_parent, dtype=np.float64), np.array(q_child, dtype=np.float64), parents, children)


ProverValues = Callable[[Transitions], tuple[np.ndarray, np.ndarray]]
"""A candidate's (Q^mu(parent), Q^mu(child)) per transition; NaN where it has no value."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class TermSums:
    """Per-problem numerators and denominators of both terms: the bootstrap resamples these."""

    distinguishability_num: np.ndarray
    distinguishability_den: np.ndarray
    alignment_num: np.ndarray
    alignment_den: np.ndarray
    sibling_states: int

    def terms(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distinguishability, alignment) for each row of problem weights (NaN where undefined)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return (weights @ self.distinguishability_num / (weights @ self.distinguishability_den),
                    weights @ self.alignment_num / (weights @ self.alignment_den))


def term_sums(transitions: Transitions, q_mu_parent: np.ndarray, q_mu_child: np.ndarray) -> TermSums:
    """Reduce the transitions where the prover has values to per-problem sums of both terms."""
    n_problems = len(transitions.problem_ids)
    known = ~(np.isnan(q_mu_parent) | np.isnan(q_mu_child))
    a_mu = (q_mu_child - q_mu_parent)[known]
    a_pi = (transitions.q_child - transitions.q_parent)[known]
    problem, state = transitions.problem[known], transitions.state[known]
    alignment_num = np.bincount(problem, weights=a_mu * a_pi, minlength=n_problems)
    alignment_den = np.bincount(problem, minlength=n_problems).astype(np.float64)

    n_states = int(state.max()) + 1 if len(state) else 0
    count = np.bincount(state, minlength=n_states).astype(np.float64)
    mean = np.bincount(state, weights=a_mu, minlength=n_states) / np.maximum(count, 1)
    squares = np.bincount(state, weights=(a_mu - mean[state]) ** 2, minlength=n_states)
    siblings = count >= 2
    variance = np.where(siblings, squares / np.maximum(count - 1, 1), 0.0)
    state_problem = np.zeros(n_states, dtype=np.int64)
    state_problem[state] = problem
    weight = np.where(siblings, count, 0.0)
    return TermSums(np.bincount(state_problem, weights=weight * variance, minlength=n_problems),
                    np.bincount(state_problem, weights=weight, minlength=n_problems),
                    alignment_num, alignment_den, int(siblings.sum()))


def bootstrap_weights(n_problems: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n_problems) counts of each problem in each resample with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_problems, size=(resamples, n_problems))
    weights = np.zeros((resamples, n_problems))
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1.0)
    return weights


def interval(point: float, samples: np.ndarray, level: float = 0.95) -> Interval:
    """Percentile interval of the finite bootstrap samples around `point`."""
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return Interval(point, float("nan"), float("nan"))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(point, float(low), float(high))
