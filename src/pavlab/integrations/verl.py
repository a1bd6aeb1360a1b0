"""PAV rewards for verl: per-step effective rewards placed on response tokens as verl's `reward_tensor`.

Why verl (see docs/scale.md): verl's trainers take a `[batch, response_length]` token-level
reward tensor from a reward manager, so dense per-step rewards need no fork; TRL's GRPO/RLOO take
one scalar per completion.

Placement: verl's GAE and REINFORCE++ estimators turn token rewards into returns-to-go
(`G_t = sum_{t' >= t} gamma^(t'-t) r_t'`). pavlab's own trainer weighs token t by its step's
effective reward `Q^pi + alpha * A^mu` directly. With `gamma = lam = 1`, placing the differences
`r_t = target_t - target_{t+1}` (last token: its target) makes verl's return of every token equal
pavlab's target, so both trainers follow the same gradient. Token targets come from
`pavlab.rl.rewards.response_token_rewards`, the function pavlab's trainer uses.

The pure computation needs neither verl nor a GPU; `register_with_verl()` adds `PAVRewardManager`
to verl's reward-manager registry under the name "pav" when verl is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pavlab.errors import PavlabError
from pavlab.rl.rewards import response_token_rewards
from pavlab.tasks.base import Problem, Task
from pavlab.verifiers.step_scores import ProcessVerifier

VERL_MANAGER_NAME = "pav"


def returns_to_go_placement(targets: np.ndarray) -> np.ndarray:
    """Token rewards whose undiscounted reverse cumulative sum equals `targets` token by token."""
    targets = np.asarray(targets, dtype=np.float64)
    return targets - np.append(targets[1:], 0.0)


def token_char_spans(tokenizer: Any, token_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(start, end) character span of each generated token inside the decoded response text.

    Spans come from decoding growing prefixes of the sampled ids (not from re-encoding the text,
    which may tokenize differently); special tokens such as EOS decode to nothing and so sit at
    the end of the text, where `response_token_rewards` gives them the last step's reward.
    """
    spans, previous = [], 0
    for end_index in range(1, len(token_ids) + 1):
        end = len(tokenizer.decode(list(token_ids[:end_index]), skip_special_tokens=True))
        spans.append((previous, max(end, previous)))
        previous = max(end, previous)
    return spans


def pav_token_rewards(task: Task, verifier: ProcessVerifier, tokenizer: Any, problems: Sequence[Problem],
                      response_ids: Sequence[Sequence[int]], alpha: float) -> list[np.ndarray]:
    """Per-token verl rewards of each response: outcome Rex + alpha * A^mu per step, placed as returns-to-go.

    `response_ids[i]` are the valid (unpadded) generated ids of response i, EOS included if sampled.
    """
    texts = [tokenizer.decode(list(ids), skip_special_tokens=True) for ids in response_ids]
    steps = [task.split_steps(text) for text in texts]
    scores = verifier.score([task.prompt(p) for p in problems], steps)
    rewards = []
    for problem, text, ids, score in zip(problems, texts, response_ids, scores, strict=True):
        outcome = float(task.is_correct(text, problem))
        targets = response_token_rewards(text, token_char_spans(tokenizer, ids), task.step_separator, outcome,
                                         score.q_mu, alpha, terminal_value=outcome)
        rewards.append(returns_to_go_placement(targets))
    return rewards


def reward_tensor(rewards: Sequence[np.ndarray], response_length: int) -> torch.Tensor:
    """verl's `[batch, response_length]` float32 tensor: response i's rewards on its first valid tokens."""
    tensor = torch.zeros((len(rewards), response_length), dtype=torch.float32)
    for row, values in enumerate(rewards):
        if len(values) > response_length:
            raise PavlabError(f"response {row} has {len(values)} rewards but verl's response length is "
                              f"{response_length}")
        tensor[row, :len(values)] = torch.as_tensor(values, dtype=torch.float32)
    return tensor


class PAVRewardManager:
    """A verl reward manager (same constructor and `__call__` as verl's `AbstractRewardManager`).

    Reads `responses` and `attention_mask` from `data.batch` (responses are right-padded after
    the prompt block), the reference answer from `non_tensor_batch["reward_model"][i]["ground_truth"]`
    and the raw question from `non_tensor_batch["extra_info"][i]["question"]` (the verifier scores
    `task.prompt(question)`, the same text it was trained on, not verl's templated prompt ids).
    The PAV comes from `pav_verifier` (a Q^pi verifier folder), `pav_prover` (bok:K or model:DIR),
    `pav_alpha` and `pav_task` (a task name or a `TaskConfig` mapping).
    """

    def __init__(self, tokenizer: Any, num_examine: int = 0, compute_score: Any = None,
                 reward_fn_key: str = "data_source", *, pav_verifier: str, pav_prover: str = "bok:4",
                 pav_alpha: float = 3.0, pav_task: str | dict[str, Any] = "math500",
                 **_: Any) -> None:
        from pavlab.tasks.registry import TaskConfig, get_task

        self.tokenizer, self.alpha = tokenizer, pav_alpha
        self.task = get_task(TaskConfig.model_validate(pav_task))
        self.verifier = ProcessVerifier.load(pav_verifier, pav_prover)

    def __call__(self, data: Any, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        responses, mask = data.batch["responses"], data.batch["attention_mask"]
        response_length = responses.shape[-1]
        prompt_length = mask.shape[-1] - response_length
        extra = data.non_tensor_batch.get("extra_info")
        problems, response_ids = [], []
        for i in range(len(responses)):
            if extra is None or "question" not in (extra[i] or {}):
                raise PavlabError("the PAV reward manager needs extra_info.question (the raw problem text) in "
                                  "every verl data row")
            valid = int(mask[i, prompt_length:].sum())
            response_ids.append(responses[i, :valid].tolist())
            answer = str(data.non_tensor_batch["reward_model"][i]["ground_truth"])
            problems.append(Problem(id=str(i), question=str(extra[i]["question"]), answer=answer))
        tensor = reward_tensor(pav_token_rewards(self.task, self.verifier, self.tokenizer, problems, response_ids,
                                                 self.alpha), response_length)
        return {"reward_tensor": tensor, "reward_extra_info": {}} if return_dict else tensor


def register_with_verl(name: str = VERL_MANAGER_NAME) -> type[PAVRewardManager]:
    """Add `PAVRewardManager` to verl's registry (`reward_model.reward_manager=pav`)."""
    try:
        from verl.workers.reward_manager import register
    except ImportError:
        raise PavlabError("the verl integration needs verl installed (pip install verl)") from None
    return register(name)(PAVRewardManager)
