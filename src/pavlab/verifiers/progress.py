"""From values to process rewards: Best-of-K values, advantages (progress) and the effective reward.

A PAV predicts Q^mu for every prefix; the progress of step h is the advantage
A^mu_h = Q^mu(s_h) - Q^mu(s_{h-1}), and search and RL both reward step h with the effective
reward Q^pi + alpha * A^mu, computed only by `effective_rewards`. Pure numpy, so every consumer
(beam search, pavlab's trainer, the verl adapter) gets exactly the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

RewardKind = Literal["advantage", "q_plus_q_mu"]


def bok_values(q: np.ndarray | float, k: int) -> np.ndarray:
    """Q of Best-of-K(pi): it succeeds if any of K independent runs of pi does."""
    return 1.0 - (1.0 - np.asarray(q, dtype=np.float64)) ** k


def bok_label(q_hat: float, rollouts: int, k: int) -> float:
    """Unbiased estimate of Q^{BoK} = 1 - (1 - Q)^k from s = q_hat * n successes in n >= k rollouts.

    Why not 1 - (1 - q_hat)^k: that plug-in is biased low (convexity), so calibration measured
    against it would blame the verifier for the label's bias. Drawing k of the n rollouts
    without replacement fails only if all k failed: C(n - s, k) / C(n, k).
    """
    successes = round(q_hat * rollouts)
    return 1.0 - math.comb(rollouts - successes, k) / math.comb(rollouts, k)


def advantages(values: np.ndarray) -> np.ndarray:
    """A_h = V_h - V_{h-1} for h = 1..H, from the H+1 values of one response (index 0 = bare prompt)."""
    return np.diff(np.asarray(values, dtype=np.float64))


def effective_rewards(q_pi: float | Sequence[float] | np.ndarray, q_mu: Sequence[float] | np.ndarray, alpha: float,
                      kind: RewardKind = "advantage") -> np.ndarray:
    """Q^pi(s_h, a_h) + alpha * A^mu(s_h, a_h) for the H steps h = 1..H of one response.

    `q_mu` holds the prover's H+1 state values (index 0 = bare prompt). `q_pi` is either the H+1
    values of a Q^pi verifier (search: step h reads the state after it) or one number for every
    step (RL: the outcome return of the sampled response, Rex or an ORM's score).
    `kind="q_plus_q_mu"` adds the prover's *values* instead of its advantages: the ablation the
    paper shows is hacked (a policy can collect Q^mu by stalling in high-value states).
    """
    values = np.asarray(q_mu, dtype=np.float64)
    if values.ndim != 1 or values.size < 1:
        raise ValueError(f"expected H+1 >= 1 prover values, got shape {values.shape}")
    q = np.asarray(q_pi, dtype=np.float64)
    if q.ndim and q.shape != values.shape:
        raise ValueError(f"q_pi has shape {q.shape} but q_mu has shape {values.shape}")
    progress = advantages(values) if kind == "advantage" else values[1:]
    return (q[1:] if q.ndim else q) + alpha * progress
