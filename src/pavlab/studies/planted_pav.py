"""A learned PAV for the planted RL study: a value model of mu_gamma, trained on Monte Carlo labels.

Why: the planted study's exact provers (`mu:GAMMA`) show that dense advantages work where outcome
reward is starved, but a user never has exact values. This builds the PAV the way a user would,
with the toolkit's own commands: seed responses, rollouts of the prover mu_gamma from every prefix
(`pavlab label --rollout_policy mu:GAMMA`) and a value model fitted to those labels
(`pavlab train-verifier`). RL then reads its advantages from the learned model (`--prover model:DIR`),
never from the exact values; a `model:` prover is its own verifier, so no Q^pi model is trained.

Seed responses come from pi, from the prover itself and from a stronger policy (`cover_gamma`,
mu_30 by default); every prefix of each is labeled with the prover's rollouts. Why: pi's responses
rarely reach the deep match states (states 3 and 4 are 1.3% and 0.3% of mu_5's positions, RESULTS.md
section 5), and RL moves the policy into exactly those states. Trained on pi's and mu_10's responses
only, a mu_10 model valued state 4 at ~0.1 against an exact 0.44, so the steps RL most needs to
learn were paid least; adding mu_30's responses brought it to ~0.3 (RESULTS.md section 5, "A
learned PAV").

How good the fit is gets measured against the exact values (`fit_to_exact`): the correlation of
predicted with exact values and of predicted with exact advantages, on held-out responses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from pavlab.config import Config
from pavlab.labeling.format import resolve_label_paths
from pavlab.labeling.run import LabelConfig, run_labeling
from pavlab.policies.base import GenerationConfig, SamplingParams
from pavlab.policies.registry import build_policy
from pavlab.tasks.planted import PlantedTask
from pavlab.tasks.registry import TaskConfig
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.third_party import load_value_model
from pavlab.verifiers.train import VerifierTrainConfig, train_verifier


class LearnedPavSettings(Config):
    """How the learned PAV of each `--learned_gammas` prover is labeled and trained (one core: ~7-8 min per gamma)."""

    problems: int = Field(4000, ge=1, description="training problems labeled with the prover's rollouts")
    policy_seeds: int = Field(4, ge=1, description="seed responses per problem from pi")
    prover_seeds: int = Field(2, ge=0, description="seed responses per problem from the prover")
    cover_gamma: float | None = Field(30.0, gt=0, description="a stronger mu_gamma whose responses reach the deep "
                                      "match states RL moves into (None: none)")
    cover_seeds: int = Field(2, ge=0, description="seed responses per problem from mu_cover_gamma")
    n_mc: int = Field(16, ge=1, description="rollouts per prefix")
    steps: int = Field(6000, ge=1, description="optimizer steps of the prover's value model")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (the model starts from the start policy)")


def _labels(out: Path, task: TaskConfig, policy: str, rollout: str, problems: int, n_cov: int, n_mc: int,
            seed: int, max_new_tokens: int) -> Path:
    return run_labeling(LabelConfig(task=task, policy=policy, rollout_policy=rollout, problems=problems,
                                    n_cov=n_cov, n_mc=n_mc, seed=seed, out=out,
                                    generation=GenerationConfig(max_new_tokens=max_new_tokens)))


def _value_model(out: Path, start: Path, labels: list[Path], steps: int, settings: LearnedPavSettings) -> Path:
    # Unbalanced: with most values far below 0.5, drawing both halves equally would bias every fit upwards.
    config = VerifierTrainConfig(kind="prm", init=str(start), lr=settings.lr, steps=steps,
                                 batch_size=settings.batch_size, balanced=False, device="cpu")
    return train_verifier(config, resolve_label_paths(labels), out)


def train_prover_model(out_dir: Path, start: Path, task: TaskConfig, gamma: float, settings: LearnedPavSettings,
                       max_new_tokens: int) -> Path:
    """The value model of mu_gamma (labels of its rollouts from pi's, its own and the cover policy's seed
    responses); RL reads its advantages from it as the prover `model:DIR`."""
    prover, name = f"mu:{gamma:g}", f"mu{gamma:g}"
    seeders = [(str(start), "pi", settings.policy_seeds), (prover, name, settings.prover_seeds)]
    if settings.cover_gamma is not None and settings.cover_gamma != gamma:
        seeders.append((f"mu:{settings.cover_gamma:g}", f"mu{settings.cover_gamma:g}", settings.cover_seeds))
    labels = [_labels(out_dir / f"labels-{name}-from-{who}", task, seeder, prover, settings.problems, n_cov,
                      settings.n_mc, index, max_new_tokens)
              for index, (seeder, who, n_cov) in enumerate(seeders) if n_cov]
    return _value_model(out_dir / f"q-{name}", start, labels, settings.steps, settings)


def fit_to_exact(model_dir: Path, gamma: float, policies: dict[str, str], horizon: int, max_new_tokens: int,
                 problems: int = 200, samples: int = 4, seed: int = 0) -> dict[str, dict[str, float]]:
    """How well a learned mu_gamma model matches the exact values, on held-out responses of each policy.

    Per policy: the exact success rate, the mean absolute error and correlation of predicted vs exact
    values of every proper prefix, and the correlation and spread of predicted vs exact advantages
    (value differences of consecutive prefixes): what RL's per-step reward is made of.
    """
    task = PlantedTask(horizon)
    model, tokenizer = load_value_model(model_dir)
    tests = task.problems("test", problems)
    prompts = [task.prompt(p) for p in tests]
    fit = {}
    for name, spec in policies.items():
        groups = build_policy(spec, task).sample(prompts, [""] * len(tests), samples,
                                                 SamplingParams(max_new_tokens=max_new_tokens, seed=seed))
        pairs = [(problem, task.split_steps(c.text)[:horizon]) for problem, group in zip(tests, groups, strict=True)
                 for c in group]
        predicted = score_prefixes(model, tokenizer, [task.prompt(p) for p, _ in pairs], [s for _, s in pairs],
                                   model.info.step_separator)
        exact = [np.asarray(task.q_values(problem, steps, gamma)) for problem, steps in pairs]
        # the last entry is the outcome, which RL reads from Rex, not from the model
        p_val = np.concatenate([np.asarray(v)[:-1] for v in predicted])
        e_val = np.concatenate([v[:-1] for v in exact])
        p_adv = np.concatenate([np.diff(np.asarray(v)[:-1]) for v in predicted])
        e_adv = np.concatenate([np.diff(v[:-1]) for v in exact])
        fit[name] = {"success": float(np.mean([v[-1] for v in exact])),
                     "value_mae": float(np.abs(p_val - e_val).mean()),
                     "value_corr": float(np.corrcoef(p_val, e_val)[0, 1]),
                     "advantage_corr": float(np.corrcoef(p_adv, e_adv)[0, 1]),
                     "advantage_sd": float(p_adv.std()), "exact_advantage_sd": float(e_adv.std())}
    return fit
