"""Online RL with dense progress rewards: sample, score every step, one REINFORCE update, repeat.

Each iteration samples `group_size` responses for `problems_per_iteration` training problems
with the policy itself (`HFPolicy` on the same model object, in eval mode), gives every token of
step h the effective reward Q^pi + alpha * A^mu (see `rewards.py`), and takes one AdamW step on
the token-mean REINFORCE loss with a baseline and a KL penalty to the frozen initial policy
(see `objective.py`). Updates are on-policy (one step per batch), so no importance ratio is needed.

Run folder: `rl_run.json` (config record), `metrics.jsonl` (one row per iteration; the row of
iteration 0 holds the starting test accuracy), `checkpoint.pt` (every `checkpoint_every`
iterations; rerunning the same command resumes from it), `tensorboard/` (the same rows as
scalars, with `tensorboard: true`), and at the end `policy/` (an HF checkpoint; a LoRA run's
adapters are merged into it), `value/` (the value model, with baseline 'value') and `rl_summary.json`.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel

from pavlab.errors import PavlabError
from pavlab.io import write_json, write_jsonl
from pavlab.policies.base import SamplingParams
from pavlab.policies.hf import HFPolicy
from pavlab.policies.loading import load_model_and_tokenizer
from pavlab.progress import progress_bar
from pavlab.rl.config import RLConfig
from pavlab.rl.objective import batch_loss, leave_one_out_baselines
from pavlab.rl.rft import rejection_finetune
from pavlab.rl.rollouts import Rollout, assign_rewards, build_rollouts
from pavlab.rl.scoring import build_outcome, build_prover
from pavlab.rl.tensorboard_log import TENSORBOARD_DIR, NoLog, TensorBoardLog, open_log, summary_writer_class
from pavlab.runs import prepare_run
from pavlab.shards import chunk_seed
from pavlab.tasks.registry import get_task
from pavlab.training import (
    CHECKPOINT_FILE,
    load_checkpoint,
    lr_factor,
    restore_rng,
    rng_state,
    save_checkpoint,
    save_model_folder,
)
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.scoring import pad_id_of

RL_METRICS_FILE = "metrics.jsonl"
EVAL_SEED_INDEX = -2  # every evaluation samples with the same seed, so test accuracies differ only by the policy


def import_peft() -> Any:
    """peft (an optional extra, imported only for LoRA runs), or a one-line error naming the extra."""
    try:
        import peft
    except ImportError:
        raise PavlabError("lora_rank > 0 needs peft: pip install 'pavlab[lora]'", field="lora_rank") from None
    return peft


def check_extras(config: RLConfig) -> None:
    """Fail before any model work (and before the run folder exists) when an enabled extra is missing."""
    if config.lora_rank > 0:
        import_peft()
    if config.tensorboard:
        summary_writer_class()


def add_lora(model: PreTrainedModel, rank: int, alpha: float) -> PreTrainedModel:
    """Inject LoRA adapters into `model` in place (its base weights frozen) and return the peft wrapper."""
    peft = import_peft()
    return peft.get_peft_model(model, peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules="all-linear",
                                                      task_type="CAUSAL_LM"))


def mean_token_rewards(rollouts: Sequence[Rollout]) -> torch.Tensor:
    """Each rollout's mean per-token reward: what the leave-one-out baseline averages over the group.

    With alpha = 0 every token carries the outcome, so this is the outcome RLOO. With dense rewards it
    centres the prover advantages too: they sum to `Rex - Q^mu(s_0)` < 0 on every failed response, and
    an outcome-only baseline leaves that negative mean in every token's return, which pushes a policy
    that sees no success towards tokens it rarely samples (measured on planted: PAV-RL mu_10 collapsed
    into a deterministic stepless response). Other samples' rewards do not depend on this sample's
    actions, so the baseline stays unbiased.
    """
    return torch.tensor([float(np.mean(r.rewards)) if len(r.rewards) else r.outcome for r in rollouts],
                        dtype=torch.float64)


class RLTrainer:
    """Holds the policy, its frozen reference, the optional value model and the optimizer; resumable."""

    def __init__(self, config: RLConfig, run_dir: Path) -> None:
        check_extras(config)
        self.config, self.run_dir = config, Path(run_dir)
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.rng = random.Random(config.seed)
        self.device = torch.device(config.device)
        self.task = get_task(config.task)
        self.train_pool = self.task.problems("train", config.train_problems)
        self.test_problems = self.task.problems(config.eval_split, config.eval_problems)
        model, self.tokenizer = load_model_and_tokenizer(config.policy, config.device)
        self.model = model.to(self.device)
        self.pad_id = pad_id_of(self.tokenizer)
        self.sampler = HFPolicy(self.model, self.tokenizer, step_separator=self.task.step_separator,
                                device=config.device)
        checkpoint = load_checkpoint(self.run_dir / CHECKPOINT_FILE)
        self.rft_stats: dict[str, float] = {}
        if checkpoint is None and config.rft_steps > 0:
            self.rft_stats = rejection_finetune(
                self.model, self.tokenizer, self.sampler, self.task, self.train_pool[:config.rft_problems],
                samples=config.rft_samples, steps=config.rft_steps, batch_size=config.rft_batch_size,
                lr=config.rft_lr, temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                seed=config.seed)
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.value_model = (ValueModel.from_backbone(copy.deepcopy(self.model), kind="prm",
                                                     step_separator=self.task.step_separator).to(self.device)
                            if config.baseline == "value" else None)
        self.trainable = self.model if config.lora_rank == 0 else add_lora(self.model, config.lora_rank,
                                                                           config.lora_alpha)
        if config.freeze_embeddings:
            self.model.get_input_embeddings().weight.requires_grad_(False)
        groups = [{"params": [p for p in self.trainable.parameters() if p.requires_grad], "lr": config.lr}]
        if self.value_model is not None:
            groups.append({"params": list(self.value_model.parameters()), "lr": config.value_lr or config.lr})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        warmup = round(config.warmup_fraction * config.iterations)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, warmup, config.iterations, config.min_lr_ratio))
        self.outcome = build_outcome(config, self.task, self.sampler.meter)
        self.prover = build_prover(config, self.task, self.sampler.meter)
        self.iteration, self.samples_seen = 0, 0
        self.metrics: list[dict[str, Any]] = []
        if checkpoint is not None:
            self._restore(checkpoint)

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint_state(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "samples_seen": self.samples_seen, "metrics": self.metrics,
                "rft_stats": self.rft_stats, "policy": self.model.state_dict(),
                "reference": self.reference.state_dict(),
                "value": None if self.value_model is None else self.value_model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "problem_rng": self.rng.getstate(), "rng": rng_state()}

    def save(self) -> None:
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.checkpoint_state())

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["policy"])
        self.reference.load_state_dict(state["reference"])
        if self.value_model is not None:
            self.value_model.load_state_dict(state["value"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.setstate(state["problem_rng"])
        restore_rng(state["rng"])
        self.iteration, self.samples_seen = state["iteration"], state["samples_seen"]
        self.metrics, self.rft_stats = state["metrics"], state["rft_stats"]

    # -- one iteration -------------------------------------------------------------------------

    def sample_rollouts(self) -> tuple[list[Rollout], float]:
        """This iteration's responses with outcomes and per-token rewards, and the seconds spent scoring steps."""
        config = self.config
        count = config.problems_per_iteration
        problems = (self.rng.sample(self.train_pool, count) if count <= len(self.train_pool)
                    else self.rng.choices(self.train_pool, k=count))
        params = SamplingParams(temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                stop="response", seed=chunk_seed(config.seed, self.iteration))
        self.model.eval()
        completions = self.sampler.sample([self.task.prompt(p) for p in problems], [""] * count,
                                          config.group_size, params)
        rollouts = build_rollouts(self.task, self.tokenizer, problems, completions)
        flat_problems = [r.problem for r in rollouts]
        outcomes = self.outcome(flat_problems, [r.text for r in rollouts])
        started = time.perf_counter()
        values = None if self.prover is None else self.prover(flat_problems, [r.steps for r in rollouts])
        scoring_seconds = time.perf_counter() - started
        assign_rewards(rollouts, outcomes, values, config.alpha, config.reward, self.task.step_separator,
                       config.step_credit)
        return rollouts, scoring_seconds

    def update(self, rollouts: Sequence[Rollout]) -> dict[str, float]:
        """One optimizer step on all rollouts (micro-batched, token-mean over the whole batch)."""
        config = self.config
        baselines = None
        if config.baseline == "loo":
            baselines = leave_one_out_baselines(mean_token_rewards(rollouts).view(-1, config.group_size)).flatten()
        n_tokens = max(1, sum(len(r.response_ids) for r in rollouts))
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for start in range(0, len(rollouts), config.micro_batch_size):
            stop = start + config.micro_batch_size
            parts = batch_loss(self.model, self.reference, self.value_model, rollouts[start:stop],
                               None if baselines is None else baselines[start:stop], n_tokens, self.pad_id,
                               temperature=config.temperature, kl_coef=config.kl_coef,
                               kl_estimator=config.kl_estimator, entropy_coef=config.entropy_coef,
                               execution_kl_coef=config.execution_kl_coef, train_execution=config.train_execution)
            parts.loss.backward()
            for name, value in vars(parts).items():
                totals[name] = totals.get(name, 0.0) + float(value.detach())
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        totals["lr"] = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.model.eval()
        return totals

    def step(self) -> dict[str, Any]:
        """Sample, score and update once; returns the iteration's metrics row."""
        started = time.perf_counter()
        rollouts, scoring_seconds = self.sample_rollouts()
        stats = self.update(rollouts)
        self.iteration += 1
        self.samples_seen += len(rollouts)
        return {"iteration": self.iteration, "samples_seen": self.samples_seen,
                "train_accuracy": float(np.mean([self.task.is_correct(r.text, r.problem) for r in rollouts])),
                "outcome": float(np.mean([r.outcome for r in rollouts])), **stats,
                "response_tokens": float(np.mean([len(r.response_ids) for r in rollouts])),
                "retokenized": sum(r.retokenized for r in rollouts),
                "scoring_seconds": scoring_seconds, "seconds": time.perf_counter() - started}

    def evaluate(self) -> float:
        """Held-out test accuracy: mean correctness of `eval_samples` samples per test problem."""
        config = self.config
        params = SamplingParams(temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                stop="response", seed=chunk_seed(config.seed, EVAL_SEED_INDEX))
        self.model.eval()
        groups = self.sampler.sample([self.task.prompt(p) for p in self.test_problems],
                                     [""] * len(self.test_problems), config.eval_samples, params)
        return float(np.mean([self.task.is_correct(c.text, problem)
                              for problem, group in zip(self.test_problems, groups, strict=True) for c in group]))

    # -- the loop ------------------------------------------------------------------------------

    def train(self) -> dict[str, Any]:
        """Run (or finish) all iterations, then save the final policy and a summary."""
        config = self.config
        started = time.perf_counter()
        with (open_log(config.tensorboard, self.run_dir / TENSORBOARD_DIR, self.metrics) as board,
              progress_bar(f"RL ({config.task.name}, alpha {config.alpha})", total=config.iterations) as advance):
            if not self.metrics:
                self.record({"iteration": 0, "samples_seen": 0, "test_accuracy": self.evaluate(),
                             **self.rft_stats}, board)
            advance(self.iteration)
            while self.iteration < config.iterations:
                row = self.step()
                if self.iteration % config.eval_every == 0 or self.iteration == config.iterations:
                    row["test_accuracy"] = self.evaluate()
                self.record(row, board)
                if self.iteration % config.checkpoint_every == 0 or self.iteration == config.iterations:
                    self.save()
                advance(1)
        return self.finish(time.perf_counter() - started)

    def record(self, row: dict[str, Any], board: TensorBoardLog | NoLog) -> None:
        """Append a metrics row to `metrics.jsonl` (rewritten whole, atomically) and to TensorBoard."""
        self.metrics.append(row)
        write_jsonl(self.run_dir / RL_METRICS_FILE, self.metrics)
        board.write(row)

    def finish(self, seconds: float) -> dict[str, Any]:
        """Save `policy/` (LoRA merged), `value/` and `rl_summary.json`; returns the summary."""
        final = self.trainable.merge_and_unload() if self.config.lora_rank else self.model
        save_model_folder(final, self.tokenizer, self.run_dir / "policy")
        if self.value_model is not None:
            self.value_model.save_pretrained(self.run_dir / "value", self.tokenizer)
        evaluated = [row for row in self.metrics if "test_accuracy" in row]
        summary = {"iterations": self.iteration, "samples_seen": self.samples_seen,
                   "test_accuracy_start": evaluated[0]["test_accuracy"],
                   "test_accuracy_final": evaluated[-1]["test_accuracy"],
                   "train_accuracy_last": self.metrics[-1].get("train_accuracy"), **self.rft_stats,
                   "seconds_this_session": round(seconds, 1)}
        write_json(self.run_dir / "rl_summary.json", summary)
        return summary


def run_rl(config: RLConfig) -> Path:
    """Train (or resume) the run in `config.out`; returns the run folder."""
    check_extras(config)
    run_dir = prepare_run(config.out, config, kind="rl")
    RLTrainer(config, run_dir).train()
    return run_dir
