"""Which prefixes get labeled: random seed rollouts, and the paper's "first pit" seeds.

Random: `n_cov` full responses per problem from the seed policy; every prefix is labeled.
First pit (PAPER.md, verifier training step 3): from states the random seeds found to be
high-value, sample fresh continuations, keep the failed ones, and label their new prefixes in
order up to the first one with Q_hat = 0 (the "pit") — the states where the policy falls off.
Prefixes after the pit are left unlabeled (null), which is where the labeling budget is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pavlab.labeling.mc import PrefixRequest, QEstimate, estimate_q_values
from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.tasks.base import Problem, Task


@dataclass
class Seed:
    """A seed response and the labels of its prefixes (index h = state after h steps)."""

    problem: Problem
    steps: list[str]
    correct: bool
    origin: str = "random"
    labels: list[QEstimate | None] = field(default_factory=list)
    branch: int = 0  # first prefix sampled for this seed; earlier labels are copied from its parent

    def request(self, h: int) -> PrefixRequest:
        return PrefixRequest(self.problem, tuple(self.steps[:h]))

    def terminal_label(self) -> QEstimate:
        """The full response's value is its outcome: exact, no rollouts needed."""
        return QEstimate(int(self.correct), 1)


def sample_seeds(task: Task, policy: PolicyBackend, problems: list[Problem], n_cov: int,
                 params: SamplingParams, origin: str = "random") -> list[Seed]:
    groups = policy.sample([task.prompt(p) for p in problems], [""] * len(problems), n_cov, params)
    return [Seed(problem, task.split_steps(c.text), task.is_correct(c.text, problem), origin)
            for problem, group in zip(problems, groups, strict=True) for c in group]


def label_all_prefixes(task: Task, rollout_policy: PolicyBackend, seeds: list[Seed], n_mc: int,
                       params: SamplingParams) -> None:
    """Label every non-terminal prefix of every seed in one batched call."""
    requests = [seed.request(h) for seed in seeds for h in range(len(seed.steps))]
    estimates = estimate_q_values(task, rollout_policy, requests, n_mc, params)
    for seed in seeds:
        seed.labels = [estimates[seed.request(h)] for h in range(len(seed.steps))] + [seed.terminal_label()]


def first_pit_seeds(task: Task, seed_policy: PolicyBackend, rollout_policy: PolicyBackend, seeds: list[Seed],
                    per_problem: int, min_value: float, n_mc: int, params: SamplingParams) -> list[Seed]:
    """Failed continuations of high-value labeled states, labeled up to their first pit."""
    starts: dict[str, list[tuple[Seed, int]]] = {}
    for seed in seeds:
        for h, label in enumerate(seed.labels[:-1]):
            if label is not None and label.q_hat >= min_value:
                starts.setdefault(seed.problem.id, []).append((seed, h))
    chosen = [pairs[i % len(pairs)] for pairs in starts.values() for i in range(per_problem)]
    if not chosen:
        return []
    step_params = replace(params, stop="response")
    # Several tries per start so most starts yield one failure even from a strong state.
    tries = 4
    groups = seed_policy.sample([task.prompt(s.problem) for s, _ in chosen],
                                [task.prefix_text(s.steps[:h]) for s, h in chosen], tries, step_params)
    pits: list[tuple[Seed, int]] = []
    for (parent, h), group in zip(chosen, groups, strict=True):
        prefix = task.prefix_text(parent.steps[:h])
        failed = next((c for c in group if not task.is_correct(prefix + c.text, parent.problem)), None)
        if failed is None:
            continue
        steps = parent.steps[:h] + task.split_steps(failed.text)
        pit = Seed(parent.problem, steps, False, "first_pit", parent.labels[:h + 1] + [None] * (len(steps) - h),
                   branch=h + 1)
        pit.labels[-1] = pit.terminal_label()
        pits.append((pit, h + 1))
    _label_until_pit(task, rollout_policy, pits, n_mc, params)
    return [pit for pit, _ in pits]


def _label_until_pit(task: Task, policy: PolicyBackend, frontier: list[tuple[Seed, int]], n_mc: int,
                     params: SamplingParams) -> None:
    """Label prefix h, h+1, ... of each seed (all seeds batched per round) until Q_hat hits 0."""
    round_index = 0
    while frontier:
        active = [(seed, h) for seed, h in frontier if h < len(seed.steps)]
        if not active:
            return
        round_params = replace(params, stop="response",
                               seed=None if params.seed is None else params.seed + 1000 + round_index)
        estimates = estimate_q_values(task, policy, [seed.request(h) for seed, h in active], n_mc, round_params)
        frontier = []
        for seed, h in active:
            seed.labels[h] = estimates[seed.request(h)]
            if seed.labels[h].successes > 0:
                frontier.append((seed, h + 1))
        round_index += 1
