"""The subset-sum testbed's noisy solver (`solver:P`) as a policy backend.

Why a backend: RL reads the solver's exact values as a graded prover (`rl/scoring.py`), but a *learned*
PAV of that prover needs what the paper's provers give, Monte Carlo labels: `pavlab label
--rollout_policy solver:P` rolls the solver out from the base policy's prefixes through the same
`PolicyBackend.sample` as any checkpoint. The solver continues the state a prefix reaches (numbers left,
need) with `traces.solver_lines`, writing annotated lines as the testbed's traces do. A prefix that
already broke a rule cannot end correct, so it is ended (an empty "eos" continuation). A step counts as
one generated token, as the planted task's procedural prover counts them.
"""

from __future__ import annotations

import random

from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.policies.traces import solver_lines
from pavlab.tasks.base import Task
from pavlab.tasks.subset_sum import SubsetSumTask, apply_takes


class SolverPolicy(PolicyBackend):
    """Samples the noisy solver: a number that keeps the target reachable with probability
    `good_move_prob` (when one exists), else any number that fits."""

    def __init__(self, task: Task, good_move_prob: float) -> None:
        if not isinstance(task, SubsetSumTask):
            raise PavlabError(f"the solver policy solver:P only works on the subset_sum task, not '{task.name}'",
                              field="policy")
        if not 0 <= good_move_prob <= 1:
            raise PavlabError(f"solver good-move probability must be in [0, 1], got {good_move_prob}", field="policy")
        super().__init__(task.step_separator)
        self.task: SubsetSumTask = task
        self.good_move_prob = float(good_move_prob)

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        self.check_request(prompts, prefixes, n, params)
        if params.temperature != 1.0 or params.top_p != 1.0:
            raise PavlabError(f"the solver policy samples its own distribution: temperature and top_p must be 1, "
                              f"got {params.temperature} and {params.top_p}", field="temperature")
        rng = random.Random(params.seed)
        results = []
        for prompt, prefix in zip(prompts, prefixes, strict=True):
            numbers, target = self.task.state_of_prompt(prompt)
            state = apply_takes(numbers, target, self.task.split_steps(prefix))
            results.append([self._continue(state, params, rng) for _ in range(n)])
        self.meter.samples += n * len(prompts)
        return results

    def _continue(self, state: tuple[tuple[int, ...], int] | None, params: SamplingParams,
                  rng: random.Random) -> Completion:
        """One continuation from `state` (None: the prefix broke a rule, so the response ends)."""
        lines = [] if state is None else solver_lines(*state, rng, self.good_move_prob, annotate=True)
        budget = min(1 if params.stop == "step" else len(lines), params.max_new_tokens)
        kept = lines[:budget]
        if len(kept) == len(lines):
            reason = "eos"
        elif params.stop == "step":
            reason = "step"
        else:
            reason = "length"
        self.meter.generated_tokens += len(kept)
        text = self.step_separator.join(kept) + (self.step_separator if reason == "step" else "")
        return Completion(text=text, token_ids=[], logprobs=[], finish_reason=reason)
