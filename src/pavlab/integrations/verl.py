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

The pure computation needs neither verl nor a GPU. Two ways into verl (checked against verl 0.9.1,
`make test-verl`):

- verl 0.9's trainer (`verl.trainer.main_ppo`) computes rewards in its reward loop, one scalar per
  response placed on the last token, so a reward manager there cannot give per-token rewards. The
  hook that can is the rollout's agent-loop manager: `PAVAgentLoopManager`
  (`pavlab/integrations/verl_agent_loop.py`, named by `actor_rollout_ref.rollout.agent.agent_loop_manager_class`)
  replaces the batch's `rm_scores` with the PAV token rewards after each rollout; the reward loop's
  scalar (the outcome, `outcome_score` below as verl's custom reward function) is kept as the
  `acc` metric and as the validation score. `integrations/verl/verl_pav.yaml` is that configuration.
- verl's legacy reward-manager API (`verl.workers.reward_manager`, still shipped in 0.9 for trainers
  that call a manager on the whole batch): `register_with_verl()` adds `PAVRewardManager` under "pav".

`python -m pavlab.integrations.verl data --task gsm8k --train 256 --val 32 --out DIR` writes a task's
problems as verl's parquet rows (`prompt` messages, `reward_model.ground_truth`, `extra_info.question`).
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pavlab.errors import PavlabError
from pavlab.rl.rewards import response_token_rewards
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig, get_task
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
        self.tokenizer = tokenizer
        self.pav = PAVSettings({"verifier": pav_verifier, "prover": pav_prover, "alpha": pav_alpha, "task": pav_task})
        self.pav.verifier  # noqa: B018 - loaded now: a bad folder fails when verl builds the manager

    def __call__(self, data: Any, return_dict: bool = False) -> torch.Tensor | dict[str, Any]:
        tensor = self.pav.rewards(self.tokenizer, data.batch, data.non_tensor_batch)
        return {"reward_tensor": tensor, "reward_extra_info": {}} if return_dict else tensor


def pav_reward_tensor(task: Task, verifier: ProcessVerifier, tokenizer: Any, alpha: float,
                      batch: Mapping[str, torch.Tensor], non_tensor_batch: Mapping[str, Any]) -> torch.Tensor:
    """verl's `[batch, response_length]` PAV rewards for a verl batch (`DataProto.batch` / `.non_tensor_batch`).

    Reads `responses` and `attention_mask` (responses right-padded after the prompt block), the
    reference answer from `reward_model[i]["ground_truth"]` and the raw question from
    `extra_info[i]["question"]`.
    """
    responses, mask = batch["responses"], batch["attention_mask"]
    response_length = responses.shape[-1]
    prompt_length = mask.shape[-1] - response_length
    extra = non_tensor_batch.get("extra_info")
    problems, response_ids = [], []
    for i in range(len(responses)):
        if extra is None or "question" not in (extra[i] or {}):
            raise PavlabError("the PAV reward needs extra_info.question (the raw problem text) in every verl data row")
        valid = int(mask[i, prompt_length:].sum())
        response_ids.append(responses[i, :valid].tolist())
        answer = str(non_tensor_batch["reward_model"][i]["ground_truth"])
        problems.append(Problem(id=str(i), question=str(extra[i]["question"]), answer=answer))
    return reward_tensor(pav_token_rewards(task, verifier, tokenizer, problems, response_ids, alpha), response_length)


class PAVSettings:
    """The PAV of a verl run, from its config's `pav` section (integrations/verl/verl_pav.yaml), loaded on first use.

    Fields: `verifier` (a Q^pi verifier folder), `prover` (bok:K or model:DIR), `alpha`, `task` (a task
    name or a `TaskConfig` mapping)."""

    def __init__(self, section: Mapping[str, Any]) -> None:
        if not section or not section.get("verifier"):
            raise PavlabError("the verl config needs pav.verifier (a pavlab verifier folder)", field="pav.verifier")
        task = section.get("task", "math500")
        self.task = cached_task(json.dumps(task if isinstance(task, str) else dict(task), sort_keys=True))
        self.verifier_path, self.prover = str(section["verifier"]), str(section.get("prover", "bok:4"))
        self.alpha = float(section.get("alpha", 3.0))
        self._verifier: ProcessVerifier | None = None

    @property
    def verifier(self) -> ProcessVerifier:
        if self._verifier is None:
            self._verifier = ProcessVerifier.load(self.verifier_path, self.prover)
        return self._verifier

    def rewards(self, tokenizer: Any, batch: Mapping[str, torch.Tensor], non_tensor_batch: Mapping[str, Any]
                ) -> torch.Tensor:
        return pav_reward_tensor(self.task, self.verifier, tokenizer, self.alpha, batch, non_tensor_batch)


@functools.lru_cache(maxsize=8)
def cached_task(config_json: str) -> Task:
    """The task of a JSON `TaskConfig` (or a JSON task name), built once per process (GSM8K reads its data)."""
    from pavlab.tasks.registry import TaskConfig, get_task

    return get_task(TaskConfig.model_validate(json.loads(config_json)))


def outcome_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict[str, Any] | None = None,
                  **_: Any) -> float:
    """verl's custom reward function: the outcome Rex (1.0 correct, else 0.0) graded by the row's pavlab task.

    The task is `extra_info["task"]`, the JSON `TaskConfig` `verl_rows` writes, so any task grades its own rows."""
    info = extra_info or {}
    task = cached_task(str(info.get("task") or json.dumps(data_source.removeprefix("pavlab/"))))
    problem = Problem(id=str(info.get("index", 0)), question=str(info.get("question", "")), answer=str(ground_truth))
    return float(task.is_correct(solution_str, problem))


def verl_rows(config: TaskConfig, split: str, problems: int | None, seed: int = 0) -> list[dict[str, Any]]:
    """A task's problems as verl's RL data rows: chat `prompt` (pavlab's prompt text as the user turn; verl applies
    the chat template as pavlab's `encode_prompt` does), `reward_model.ground_truth`, `extra_info.question`, and
    `extra_info.task` (the JSON `TaskConfig`, for `outcome_score`)."""
    task, task_json = get_task(config), json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return [{"data_source": f"pavlab/{config.name}", "prompt": [{"role": "user", "content": task.prompt(problem)}],
             "ability": "reasoning", "reward_model": {"style": "rule", "ground_truth": problem.answer},
             "extra_info": {"split": split, "index": index, "question": problem.question, "task": task_json}}
            for index, problem in enumerate(task.problems(split, problems, seed=seed))]


def write_verl_dataset(config: TaskConfig, out: str | Path, train: int | None, val: int | None,
                       seed: int = 0) -> list[Path]:
    """OUT/train.parquet (the task's train split) and OUT/val.parquet (its test split), as verl reads them."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise PavlabError("writing verl data needs pyarrow (installed with verl)") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, split, count in (("train", "train", train), ("val", "test", val)):
        path = out / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(verl_rows(config, split, count, seed)), path)
        written.append(path)
    return written


def register_with_verl(name: str = VERL_MANAGER_NAME) -> type[PAVRewardManager]:
    """Add `PAVRewardManager` to verl's legacy reward-manager registry (`verl.workers.reward_manager`)."""
    try:
        from verl.workers.reward_manager import register
    except ImportError:
        raise PavlabError("the verl integration needs verl installed (pip install verl)") from None
    return register(name)(PAVRewardManager)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m pavlab.integrations.verl data --task NAME --train N --val N --out DIR`."""
    parser = argparse.ArgumentParser(prog="python -m pavlab.integrations.verl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="write a task's problems as verl parquet rows (train.parquet, val.parquet)")
    data.add_argument("--task", default="gsm8k")
    data.add_argument("--train", type=int, default=256, help="problems of the train split")
    data.add_argument("--val", type=int, default=32, help="problems of the test split")
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        paths = write_verl_dataset(TaskConfig(name=args.task), args.out, args.train, args.val, args.seed)
    except PavlabError as exc:
        raise SystemExit(f"error: {exc}") from None
    print("\n".join(str(path) for path in paths))


if __name__ == "__main__":
    main()
