"""Tiny in-process tokenizers, tasks and causal LMs for the RL tests (no downloads, a few ms per forward).

Helpers are handed to tests as fixtures (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.config import load_config
from pavlab.policies.base import Completion, SamplingParams
from pavlab.policies.procedural import ProceduralProverPolicy
from pavlab.policies.testbed import encode_examples, response_nll
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.rl.config import RLConfig
from pavlab.rl.trainer import RL_METRICS_FILE, RLTrainer, run_rl
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.planted import VOCAB_SIZE, PlantedTask
from pavlab.testing import char_tokenizer


def tiny_llama(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        tie_word_embeddings=True)).eval()


class SuffixTask(Task):
    """A toy task: a response is correct iff its last step equals the answer."""

    name = "suffix"

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        return [Problem(id=f"{split}-{i}", question=f"q{i}", answer="ok") for i in range(n or 4)]

    def extract_answer(self, response: str) -> str | None:
        steps = self.split_steps(response)
        return steps[-1] if steps else None

    def is_correct(self, response: str, problem: Problem) -> bool:
        return self.extract_answer(response) == problem.answer


def completion(tokenizer: PreTrainedTokenizerFast, text: str, eos: bool = True) -> Completion:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    return Completion(text=text, token_ids=ids, logprobs=[0.0] * len(ids), finish_reason="eos" if eos else "length")


def planted_policy(out_dir: Path, problems: list[Problem], sft_steps: int = 60, gamma: float = 5.0,
                   seed: int = 0) -> Path:
    """A tiny Llama SFT'd briefly on mu_gamma samples of `problems` (the paper's start), saved to `out_dir`."""
    task = PlantedTask()
    tokenizer = build_number_tokenizer(VOCAB_SIZE, [])
    prompts = [task.prompt(p) for p in problems]
    traces = ProceduralProverPolicy(task, gamma).sample(prompts, [""] * len(prompts), 16,
                                                        SamplingParams(seed=seed))
    pairs = [(prompt, c.text) for prompt, group in zip(prompts, traces, strict=True) for c in group]
    model = tiny_llama(len(tokenizer), seed=seed)
    model.config.bos_token_id, model.config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(seed)
    model.train()
    for _ in range(sft_steps):
        batch = rng.sample(pairs, min(32, len(pairs)))
        loss = response_nll(model, encode_examples(tokenizer, [p for p, _ in batch], [r for _, r in batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture
def make_tokenizer():
    return char_tokenizer


@pytest.fixture
def make_llama():
    return tiny_llama


@pytest.fixture
def make_completion():
    return completion


@pytest.fixture
def suffix_task() -> SuffixTask:
    return SuffixTask()


@pytest.fixture
def make_planted_policy():
    return planted_policy


def rl_config(policy: Path, out: Path, **overrides) -> RLConfig:
    """A seconds-long planted-task RL run (4 problems x 2 samples per iteration, dense mu:10 rewards)."""
    base = {"task": "planted", "policy": str(policy), "out": str(out), "prover": "mu:10", "alpha": 3.0,
            "problems_per_iteration": 4, "group_size": 2, "train_problems": 8, "eval_problems": 4,
            "max_new_tokens": 24, "lr": 3e-3, "progress": False, "threads": 1}
    return load_config(RLConfig, overrides={**base, **overrides})


def metric_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / RL_METRICS_FILE).read_text().splitlines()]


@pytest.fixture
def make_rl_config():
    return rl_config


@pytest.fixture
def read_metrics():
    return metric_rows


def killed_run(monkeypatch: pytest.MonkeyPatch, config: RLConfig, at_step: int) -> None:
    """Run `config` and kill it (KeyboardInterrupt) inside its `at_step`-th iteration of this session."""
    original, calls = RLTrainer.step, []

    def dying_step(self: RLTrainer) -> dict:
        calls.append(self.iteration)
        if len(calls) == at_step:
            raise KeyboardInterrupt
        return original(self)

    with monkeypatch.context() as patch:
        patch.setattr(RLTrainer, "step", dying_step)
        with pytest.raises(KeyboardInterrupt):
            run_rl(config)


@pytest.fixture
def run_killed(monkeypatch):
    return lambda config, at_step: killed_run(monkeypatch, config, at_step)
