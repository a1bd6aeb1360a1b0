"""Rejection fine-tuning: SFT of the starting policy on its own correct samples (the paper's RL start).

Why: RL from a policy that rarely succeeds gets almost no outcome signal; fine-tuning on the
policy's own successes sharpens it onto solutions it can already reach, without new data.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedModel

from pavlab.errors import PavlabError
from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.policies.testbed import encode_examples, response_nll
from pavlab.shards import chunk_seed
from pavlab.tasks.base import Problem, Task


def correct_samples(task: Task, policy: PolicyBackend, problems: Sequence[Problem], n: int,
                    params: SamplingParams) -> list[tuple[str, str]]:
    """(prompt, response) pairs of distinct correct responses among n samples per problem."""
    prompts = [task.prompt(p) for p in problems]
    groups = policy.sample(prompts, [""] * len(problems), n, params)
    pairs = []
    for problem, prompt, group in zip(problems, prompts, groups, strict=True):
        correct = {c.text for c in group if task.is_correct(c.text, problem)}
        pairs.extend((prompt, text) for text in sorted(correct))
    return pairs


def rejection_finetune(model: PreTrainedModel, tokenizer: Any, policy: PolicyBackend, task: Task,
                       problems: Sequence[Problem], *, samples: int, steps: int, batch_size: int, lr: float,
                       temperature: float, max_new_tokens: int, seed: int) -> dict[str, float]:
    """Fine-tune `model` in place for `steps` AdamW steps on its correct samples; returns what it trained on."""
    params = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, stop="response",
                            seed=chunk_seed(seed, -1))
    pairs = correct_samples(task, policy, problems, samples, params)
    if not pairs:
        raise PavlabError(f"rejection fine-tuning found no correct response in {samples} samples x "
                          f"{len(problems)} problems; raise rft_samples or set rft_steps 0", field="rft_steps")
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        batch = [pairs[rng.randrange(len(pairs))] for _ in range(batch_size)]
        inputs = encode_examples(tokenizer, [p for p, _ in batch], [r for _, r in batch])
        loss = response_nll(model, {key: value.to(model.device) for key, value in inputs.items()})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return {"rft_examples": len(pairs), "rft_problems_solved": len({p for p, _ in pairs}),
            "rft_loss_first": losses[0], "rft_loss_last": losses[-1]}
