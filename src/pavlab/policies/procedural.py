"""The planted task's procedural prover mu_gamma as a policy backend.

Why a backend: the same object then serves as a prover for Monte Carlo labels, as a policy for
search and sampling, and as the source of SFT traces ("SFT on samples from mu_5"), all through
`PolicyBackend.sample` and its compute meter. A token is one step ("7\\n"); `token_ids` are the
token values 1..14 and generated tokens are counted as steps. The prover never ends a response
before the task's horizon, so a completion is "eos" exactly when the response reaches `task.horizon` steps.
"""

from __future__ import annotations

import random

from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.tasks.base import Task
from pavlab.tasks.planted import (
    PlantedTask,
    match_states,
    parse_token,
    sample_prover_step,
    target_of,
    transitions,
)


class ProceduralProverPolicy(PolicyBackend):
    """Samples from mu_gamma; the problem (and so y*) of each prompt is read from the prompt's keys."""

    def __init__(self, task: Task, gamma: float) -> None:
        if not isinstance(task, PlantedTask):
            raise PavlabError(f"the procedural prover mu:GAMMA only works on the planted task, not '{task.name}'",
                              field="policy")
        if gamma <= 0:
            raise PavlabError(f"prover strength gamma must be > 0, got {gamma}", field="policy")
        super().__init__(task.step_separator)
        self.task: PlantedTask = task
        self.gamma = float(gamma)

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        self.check_request(prompts, prefixes, n, params)
        rng = random.Random(params.seed)
        results = []
        for prompt, prefix in zip(prompts, prefixes, strict=True):
            target = target_of(self.task.problem_from_prompt(prompt))
            steps = self.task.split_steps(prefix)
            state = match_states(target, [parse_token(step) for step in steps[:self.task.horizon]])[-1]
            results.append([self._continue(target, state, len(steps), params, rng) for _ in range(n)])
        self.meter.samples += n * len(prompts)
        return results

    def _continue(self, target: tuple[int, ...], state: int, done: int, params: SamplingParams,
                  rng: random.Random) -> Completion:
        """One continuation from a prefix of `done` steps in match state `state`."""
        left = max(self.task.horizon - done, 0)
        budget = min(left, 1 if params.stop == "step" else left, max(params.max_new_tokens, 0))
        table = transitions(target)
        tokens, logprobs = [], []
        for _ in range(budget):
            token, logprob = sample_prover_step(target, state, self.gamma, rng, params.temperature, params.top_p)
            state = table[state][token]
            tokens.append(token)
            logprobs.append(logprob)
        self.meter.generated_tokens += len(tokens)
        if len(tokens) == left:
            reason = "eos"
        elif params.stop == "step" and tokens:
            reason = "step"
        else:
            reason = "length"
        text = "".join(f"{token}{self.step_separator}" for token in tokens)
        return Completion(text=text, token_ids=tokens, logprobs=logprobs, finish_reason=reason)

