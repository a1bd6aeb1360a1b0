"""Monte Carlo value labels: Q_hat of a prefix = success rate of `n_mc` continuations from it.

All prefixes of all seed responses in a chunk go to the backend in one call: identical
prefixes are deduplicated (the bare prompt is shared by every seed of a problem) and the
backend prefills each unique prefix once and expands its cache to the `n_mc` continuations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.tasks.base import Problem, Task


@dataclass(frozen=True)
class PrefixRequest:
    """Label the state after `steps` (zero steps = the bare prompt) of `problem`."""

    problem: Problem
    steps: tuple[str, ...]


@dataclass(frozen=True)
class QEstimate:
    successes: int
    rollouts: int

    @property
    def q_hat(self) -> float:
        return self.successes / self.rollouts


def estimate_q_values(task: Task, policy: PolicyBackend, requests: list[PrefixRequest], n_mc: int,
                      params: SamplingParams) -> dict[PrefixRequest, QEstimate]:
    """MC estimate of Q^policy for every distinct request, in one batched backend call."""
    unique = list(dict.fromkeys(requests))
    prompts = [task.prompt(r.problem) for r in unique]
    prefixes = [task.prefix_text(list(r.steps)) for r in unique]
    rollout_params = replace(params, stop="response")
    groups = policy.sample(prompts, prefixes, n_mc, rollout_params) if unique else []
    estimates = {}
    for request, prefix, group in zip(unique, prefixes, groups, strict=True):
        wins = sum(task.is_correct(prefix + c.text, request.problem) for c in group)
        estimates[request] = QEstimate(wins, len(group))
    return estimates
