"""Sampled responses turned into training sequences: token ids, the response span and per-token rewards.

The ids follow the shared convention (`encode_prompt` + `encode_response`), the same ids a
verifier scores, and `encode_response`'s character offsets map each token to its step. When a
response ended with EOS, the EOS token is trained too (ending is an action) and belongs to the
last step. A sampled token sequence that is not the tokenizer's canonical encoding of its text
(e.g. "1" "0" for "10") keeps its sampled ids, with spans from decoding them: re-encoding it
would put the gradient on ids the policy never sampled, and nothing would then push down the
odd spelling it did sample (a run on planted collapsed that way). `retokenized` counts these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pavlab.policies.base import Completion
from pavlab.policies.tokenization import decoded_offsets, encode_prompt, encode_response
from pavlab.rl.rewards import StepCredit, execution_tokens, response_token_rewards
from pavlab.tasks.base import Problem, Task
from pavlab.verifiers.progress import RewardKind


@dataclass
class Rollout:
    """One sampled response of problem `problem` (the `group`-th problem of its batch)."""

    group: int
    problem: Problem
    prompt: str
    text: str
    steps: list[str]
    prompt_ids: list[int]
    response_ids: list[int]
    offsets: list[tuple[int, int]]
    retokenized: bool
    outcome: float = 0.0
    rewards: np.ndarray = field(default_factory=lambda: np.zeros(0))
    execution: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # see `execution_tokens`

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.response_ids


def build_rollouts(task: Task, tokenizer: Any, problems: Sequence[Problem],
                   completions: Sequence[Sequence[Completion]]) -> list[Rollout]:
    """One `Rollout` per completion, grouped by problem in order (outcomes and rewards still unset)."""
    rollouts = []
    for group, (problem, samples) in enumerate(zip(problems, completions, strict=True)):
        prompt = task.prompt(problem)
        prompt_ids = encode_prompt(tokenizer, prompt)
        for completion in samples:
            ended = completion.finish_reason == "eos"
            sampled = list(completion.token_ids[:len(completion.token_ids) - ended])
            ids, offsets = encode_response(tokenizer, completion.text)
            retokenized = ids != sampled
            if retokenized:
                ids, offsets = sampled, decoded_offsets(tokenizer, sampled)
            if ended:
                ids, offsets = ids + completion.token_ids[-1:], offsets + [(len(completion.text),) * 2]
            rollouts.append(Rollout(group, problem, prompt, completion.text, task.split_steps(completion.text),
                                    prompt_ids, ids, offsets, retokenized,
                                    execution=np.array(execution_tokens(completion.text, offsets,
                                                                        task.step_separator), dtype=bool)))
    return rollouts


def assign_rewards(rollouts: Sequence[Rollout], outcomes: np.ndarray, prover_values: Sequence[np.ndarray] | None,
                   alpha: float, kind: RewardKind, separator: str, credit: StepCredit = "step") -> None:
    """Set each rollout's outcome return and its per-token rewards Q^pi + alpha * A^mu (or the ablation).

    Every rollout is a finished response, so its final prover value is its outcome (see `rewards.py`).
    """
    for index, rollout in enumerate(rollouts):
        rollout.outcome = float(outcomes[index])
        values = None if prover_values is None else prover_values[index]
        rollout.rewards = response_token_rewards(rollout.text, rollout.offsets, separator, rollout.outcome, values,
                                                 alpha, kind, terminal_value=rollout.outcome, credit=credit)
