"""The didactic RL study: outcome-only RL vs PAV-RL with procedural provers mu_gamma on the planted task.

Why a study module: the paper's claim (PAPER.md, "The didactic task") is a comparison of learning
curves (held-out accuracy vs samples seen) across reward arms and prover strengths, and it only
means something with several seeds, identical settings per arm except the reward, and the
sample-efficiency ratio computed the same way every time. This module owns that protocol.

Start policy: a tiny Llama trained towards mu_5 over many training problems (so it generalises to
held-out problems), as in the paper; see `start_model` for why the SFT distils mu_5's exact step
distribution rather than fitting its samples. It ships with pavlab (`testbeds/planted`, 0.1M
parameters), trained once with the project's own command (how long it took, and why it is trained
this way: RESULTS.md section 5):

    pavlab policy train-testbed --task planted --out DIR --hidden_size 64 --intermediate_size 192 \
        --num_layers 2 --num_heads 4 --steps 10000 --batch_size 64 --lr 3e-3 --planted_distill true \
        --planted_trace_gamma 30 --planted_sft_gamma 5 --n_train_problems 8000 --n_traces 240000 --threads 1

so the study (and the demo) start RL at once; pass `start` to train another one instead.

Learned PAVs: the arms above read mu_gamma's exact values. `learned_gammas` adds arms whose PAV the study
learns the way a user would (`studies/planted_pav.py`: labels of mu_gamma's rollouts, a value model of
them, read as `model:DIR`), so the same comparison says whether a *learned* PAV keeps the gain where
outcome reward is starved (RESULTS.md section 5, "A learned PAV where outcome reward is starved").

Horizon: `horizon` (default 10, the task's) sets how many steps a response has, in every run's task,
its generation length and the exact prover values. Why: at 10 steps no mu_gamma up to 30 saturates,
so the paper's "too strong a prover gives no signal" can only show on a longer horizon; the summary
reports each prover's bare-prompt value there (`bare_prompt_values`), the saturation measure. The
shipped start was trained at horizon 10 and ends its responses after 10 steps (RESULTS.md section 5,
"The gamma window on a longer horizon"); a start for another horizon is trained with the same command
plus `--horizon H`, and the study warns when its start's recorded horizon is not `horizon`.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from pavlab.config import FloatList, IntList, PresetConfig
from pavlab.io import read_json, write_json
from pavlab.policies.base import SamplingParams
from pavlab.policies.loading import load_policy
from pavlab.policies.prover_spec import procedural_gamma
from pavlab.policies.testbed import TESTBED_FILE, TestbedConfig, copy_shipped_testbed, train_testbed
from pavlab.policies.tokenization import encode_response
from pavlab.rl.config import RLConfig
from pavlab.studies.planted_pav import LearnedPavSettings, fit_to_exact, train_prover_model
from pavlab.studies.rl_curves import (
    RewardArm,
    plot_arm_curves,
    ratio_text,
    run_arms,
    samples_to_reach,
    summarize_arms,
    write_curves_csv,
)
from pavlab.studies.search_cells import pct
from pavlab.tasks.planted import (
    HORIZON,
    TARGET_LENGTH,
    TOKENS,
    PlantedTask,
    check_horizon,
    exact_q_value,
    match_states,
    target_of,
)
from pavlab.tasks.registry import TaskConfig
from pavlab.verifiers.scoring import right_pad


def start_model(steps: int) -> TestbedConfig:
    """The start policy's network and SFT optimisation (a 2-layer, 64-wide Llama; Adam lr 3e-3, batch 64).

    SFT is distillation of mu_5 (its exact step distribution as the target) on states visited by
    mu_30: mu_5 reaches the deep match states too rarely for a small network to learn them from its
    own samples (the variants and their rule probabilities: RESULTS.md section 5, "What it took" 1).
    The target distribution, and so the policy RL starts from, is still mu_5's.
    """
    return TestbedConfig(hidden_size=64, intermediate_size=192, num_layers=2, num_heads=4, steps=steps,
                         batch_size=64, lr=3e-3, planted_distill=True, planted_trace_gamma=30.0, progress=False)


def train_planted_start(out_dir: Path, *, sft_gamma: float = 5.0, problems: int = 2000, samples: int = 4,
                        model: TestbedConfig | None = None, horizon: int = HORIZON) -> Path:
    """The planted testbed policy: SFT towards mu_`sft_gamma` on `samples` traces of each of `problems` problems,
    each `horizon` steps long (unless `model` sets its own horizon)."""
    model = model or start_model(steps=400)
    config = model.model_copy(update={
        "n_train_problems": problems, "n_traces": problems * samples, "planted_sft_gamma": sft_gamma,
        "horizon": model.horizon or (None if horizon == HORIZON else check_horizon(horizon))})
    return train_testbed("planted", Path(out_dir), config)


def start_horizon(policy_dir: Path) -> int | None:
    """The horizon a planted testbed start was trained at (its testbed.json's task_options), None when the
    folder records no planted testbed (an RL checkpoint, another task)."""
    record_file = Path(policy_dir) / TESTBED_FILE
    if not record_file.is_file():
        return None
    record = read_json(record_file)
    if record.get("task") != "planted":
        return None
    return int(record.get("task_options", {}).get("horizon", HORIZON))


def horizon_mismatch(policy_dir: Path, horizon: int) -> str | None:
    """A one-line warning when the start was trained on traces of another horizon than the study's, else None.

    Why a warning, not an error: the horizon-30 pilot and full run (RESULTS.md section 5) start from the
    shipped horizon-10 start on purpose and must still resume; but a start that stops at its own horizon
    confounds any comparison, so it must not go unnoticed.
    """
    trained = start_horizon(policy_dir)
    if trained is None or trained == horizon:
        return None
    effect = (f"it may stop or act out of distribution after step {trained}" if trained < horizon else
              f"it has learned to act over {trained} steps, not {horizon}")
    return (f"warning: start policy {policy_dir} was trained on {trained}-step traces but the study's horizon is "
            f"{horizon}; {effect} (train a start with `pavlab policy train-testbed --task planted --horizon "
            f"{horizon} ...`)")


def study_arms(gammas: Sequence[float], alpha: float, ablation_gamma: float | None,
               orm_factor: int = 1, learned: dict[float, Path] | None = None,
               learned_ablation: bool = False) -> list[RewardArm]:
    """ORM-RL, PAV-RL for each gamma, learned-PAV-RL for each `learned` gamma (its value model),
    (unless None) the values-not-advantages ablation at `ablation_gamma`, with `learned_ablation` the same
    ablation with each learned PAV, and, with `orm_factor` > 1, ORM-RL run `orm_factor` times longer (the
    sample-efficiency reference)."""
    learned = learned or {}
    arms = [RewardArm("ORM-RL"), *(RewardArm(f"PAV-RL mu_{g:g}", alpha, prover=f"mu:{g:g}") for g in gammas),
            *(RewardArm(f"Learned-PAV-RL mu_{g:g}", alpha, prover=f"model:{model}") for g, model in learned.items())]
    if learned_ablation:
        arms += [RewardArm(f"Learned Q+aQ^mu mu_{g:g}", alpha, "q_plus_q_mu", f"model:{model}")
                 for g, model in learned.items()]
    if ablation_gamma is not None:
        arms.append(RewardArm(f"Q+aQ^mu mu_{ablation_gamma:g}", alpha, "q_plus_q_mu", f"mu:{ablation_gamma:g}"))
    if orm_factor > 1:
        arms.append(RewardArm(f"ORM-RL x{orm_factor} samples", iteration_factor=orm_factor))
    return arms


# Settings shared by every arm (only alpha, prover and reward differ): a batch of 16 problems x 4
# samples = 64 responses (the paper's batch), constant lr 1e-3 (the paper's), the paper's learned
# token-level value baseline. Why not leave-one-out: it is one number per response, so it cannot
# centre advantages that differ from step to step. No entropy bonus: it decays the arms that get no
# signal. Both were measured: RESULTS.md section 5, "What it took" 3 and 4. The generation length
# follows the horizon (`max_new_tokens`).
SHARED_SETTINGS: dict[str, Any] = {
    "problems_per_iteration": 16, "group_size": 4, "lr": 1e-3, "warmup_fraction": 0.0, "min_lr_ratio": 1.0,
    "kl_coef": 0.0, "baseline": "value", "eval_problems": 200,
    "eval_samples": 2,
    "checkpoint_every": 50, "threads": 1, "progress": False,
}
RL_PLANTED_FILE = "rl_planted.json"
REACH_LEVELS = (50, 90)  # held-out accuracy (%) whose first crossing by the seed-mean curve is reported
# How a start is trained when the study is given its own `start` network (the shipped one used these).
START_SFT = {"problems": 8000, "samples": 30}


def max_new_tokens(horizon: int) -> int:
    """Generation budget for a response of `horizon` steps: a token and its separator per step, EOS, and
    slack for a few blank lines (24 at the default horizon of 10, what the horizon-10 study ran with)."""
    return 2 * horizon + 4


def planted_task(horizon: int) -> TaskConfig:
    """The planted task at `horizon`; the default horizon stays unset, so runs recorded before the option
    existed resume."""
    return TaskConfig(name="planted", horizon=None if horizon == HORIZON else horizon)


def bare_prompt_values(gammas: Sequence[float], problems: Sequence[Any], horizon: int) -> dict[str, float]:
    """Mean V^{mu_gamma}(prompt) over `problems` per gamma (key f"{gamma:g}").

    Why: it is the saturation measure. A prover whose bare-prompt value is near 1 succeeds from almost
    any state, so its advantages are near 0 and carry little signal (the paper's "too strong a prover").
    """
    return {f"{g:g}": float(np.mean([exact_q_value(p, [], g, horizon) for p in problems])) for g in gammas}


class PlantedRLStudyConfig(PresetConfig):
    """`pavlab study rl-planted`: every reward arm x seed from one start policy on the planted task."""

    # One seed of ORM-RL and PAV-RL mu_10 from the shipped start, long enough for PAV-RL to rise visibly
    # above the start (at full settings it passes 50% after ~150 iterations: RESULTS.md section 5); no
    # ablation, no long ORM-RL; with --learned_gammas, a learned PAV from an eighth of the labels.
    QUICK: ClassVar[dict[str, Any]] = {"gammas": [10.0], "seeds": [0], "iterations": 150, "eval_every": 50,
                                       "orm_factor": 1, "ablation_gamma": None,
                                       "learned": {"problems": 500, "steps": 1500}}

    out: Path = Field(..., description="study folder (rerun the same command to resume)")
    quick: bool = Field(False, description="ORM-RL and PAV-RL mu_10, one seed, 150 iterations from the shipped "
                                           "start: ~1 min (~3 min with --learned_gammas 10)")
    gammas: FloatList = Field([2.0, 5.0, 10.0, 15.0, 30.0],
                                description="prover strengths of the PAV-RL arms with exact values (comma-separated)")
    learned_gammas: FloatList = Field([], description="provers mu_gamma whose PAV is learned: labeled with their "
                                      "rollouts and trained by the study (OUT/pav), RL reads a model, not exact values")
    learned: LearnedPavSettings = LearnedPavSettings()
    learned_ablation: bool = Field(False, description="also the Q + alpha*Q^mu arm with each learned PAV (values a "
                                   "model predicts can be collected by lengthening responses)")
    workers: int = Field(1, ge=1, description="RL runs trained at once (processes, 1 thread each)")
    seeds: IntList = Field([0, 1, 2], min_length=1, description="RL seeds (comma-separated)")
    iterations: int = Field(400, ge=1, description="RL iterations per run")
    eval_every: int = Field(25, ge=1, description="held-out evaluation every this many iterations")
    alpha: float = Field(3.0, description="weight of the prover's advantages in every PAV-RL arm")
    horizon: int = Field(HORIZON, ge=TARGET_LENGTH, description="most steps of a response (the planted task's "
                                                                "horizon); generation length follows it")
    ablation_gamma: float | None = Field(10.0, description="the Q + alpha*Q^mu arm's prover (None: no ablation)")
    orm_factor: int = Field(10, ge=1, description="a long ORM-RL reference arm runs this many times the "
                                                  "iterations (1: none)")
    start_policy: Path | None = Field(None, description="start checkpoint (default: the shipped planted testbed, "
                                                        "copied to OUT/start)")
    start: TestbedConfig | None = Field(None, description="train this start network instead (START_SFT traces)")
    settings: dict[str, Any] = Field({}, description="RLConfig fields that override SHARED_SETTINGS for every arm")

    @model_validator(mode="after")
    def _some_pav_arm(self) -> PlantedRLStudyConfig:
        if not (self.gammas or self.learned_gammas):
            raise ValueError("no PAV-RL arm: give --gammas or --learned_gammas")
        return self


def matched_prefix(policy_dir: Path, problems: int, samples: int, seed: int, horizon: int = HORIZON) -> float:
    """Mean longest run of y* (its first k tokens in a row, 0..5) in the policy's test responses.

    Why: test accuracy only counts complete matches, so it cannot tell a policy that learned y*_1..y*_3
    from one that learned nothing; this measures the partial progress each arm makes (within `horizon` steps).
    """
    task = PlantedTask(check_horizon(horizon))
    policy = load_policy(str(policy_dir))
    tests = task.problems("test", problems)
    groups = policy.sample([task.prompt(p) for p in tests], [""] * len(tests), samples,
                           SamplingParams(max_new_tokens=max_new_tokens(horizon), seed=seed))
    return float(np.mean([max(match_states(target_of(problem), task.counted_tokens(c.text)))
                          for problem, group in zip(tests, groups, strict=True) for c in group]))


def rule_probabilities(policy_dir: Path, problems: int = 200, seed: int = 0) -> list[float]:
    """Mean probability the policy puts on y*_{k+1} in match state k, for k = 0 .. 4.

    Why: test accuracy and the y* run say *that* a start policy fails, not *which* part of the rule
    it lacks. mu_gamma puts gamma / (gamma + 13) on the right token in every state (0.278 for
    mu_5); a policy that only learned "open with y*_1" shows ~0.07 (uniform) from state 1 on, and RL
    must then build the later states from scratch. Prefixes are a few random tokens (left in state
    0) followed by y*_1 .. y*_k.
    """
    import torch

    task, rng = PlantedTask(), random.Random(seed)
    policy = load_policy(str(policy_dir))
    model, tokenizer = policy.model, policy.tokenizer  # type: ignore[attr-defined]
    means = []
    for state in range(TARGET_LENGTH):
        contexts, wanted = [], []
        for problem in task.problems("test", problems):
            target = target_of(problem)
            junk = [rng.choice(TOKENS) for _ in range(rng.randint(0, 4))]
            while match_states(target, junk)[-1] != 0:
                junk.pop()
            prefix = "".join(f"{token}{task.step_separator}" for token in (*junk, *target[:state]))
            contexts.append(policy.context_ids(task.prompt(problem), prefix))
            wanted.append(encode_response(tokenizer, str(target[state]))[0][0])
        ids, mask = right_pad(contexts, tokenizer.pad_token_id)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        last = logits[torch.arange(len(contexts)), mask.sum(1) - 1].float().softmax(-1)
        means.append(float(last[torch.arange(len(contexts)), torch.tensor(wanted)].mean()))
    return means


def rules_text(probabilities: Sequence[float]) -> str:
    return " / ".join(f"{p:.2f}" for p in probabilities)


def markdown_section(summary: dict[str, Any], command: str) -> str:
    """The RESULTS.md section: the paper's didactic claims next to what this run measured."""
    arms, efficiency = summary["arms"], summary["sample_efficiency"]
    orm = arms["ORM-RL"]
    pav = {name: row for name, row in arms.items() if name in efficiency and procedural_gamma(row["prover"])}
    learned = {name: row for name, row in arms.items() if name in efficiency and name not in pav}
    best_name = max(pav, key=lambda name: pav[name]["final_accuracy"]) if pav else None
    gammas = {name: procedural_gamma(row["prover"]) for name, row in pav.items()}
    gain = [f"{gammas[name]:g}" for name, row in pav.items() if row["final_min"] > orm["final_max"]]

    def reached(row: dict[str, Any]) -> str:
        return " / ".join("never" if row[f"samples_to_{t}"] is None else f"{row[f'samples_to_{t}']:.0f}"
                          for t in REACH_LEVELS)

    horizon = summary.get("horizon", HORIZON)
    tokens = all("final_response_tokens" in row for row in arms.values())  # not in summaries written before it
    title = "## Online RL on the planted task (didactic)" + ("" if horizon == HORIZON else f", horizon {horizon}")
    lines = [title, "", f"Command: `{command}`", "", "| claim | paper | measured |", "|---|---|---|"]
    ten = next((name for name in pav if gammas[name] == 10.0), best_name)
    if ten is not None:
        to_90 = pav[ten]["samples_to_90"]
        when = "never" if to_90 is None else f"at {to_90 / summary['batch']:.0f} iterations"
        lines.append(f"| PAV-RL with mu_10 | 100% in ~350 iterations | {pct(pav[ten]['final_accuracy'])} after "
                     f"{pav[ten]['samples']:.0f} samples (from {pct(pav[ten]['start_accuracy'])}); seed mean >= 90% "
                     f"{when} |")
        lines.append(f"| sample efficiency vs ORM-RL (mu_10; reference arm: {summary['efficiency_reference']}) "
                     f"| ~10x | {ratio_text(efficiency[ten])} |")
    for name, row in learned.items():
        lines.append(f"| {name}: a PAV learned from the prover's rollouts (not in the paper's didactic study) | "
                     f"- | {pct(row['final_accuracy'])} after {row['samples']:.0f} samples (from "
                     f"{pct(row['start_accuracy'])}); vs ORM-RL {ratio_text(efficiency[name])} |")
    lines.append(f"| ORM-RL (outcome only) | little progress | {pct(orm['final_accuracy'])} "
                 f"(from {pct(orm['start_accuracy'])}) |")
    lines.append(f"| gammas that beat ORM-RL (every seed) | about 8-15 | {', '.join(gain) or 'none'} |")
    for name, row in arms.items():
        if row["reward"] == "q_plus_q_mu":
            lines.append(f"| {name} (values, not advantages) | hacked (shown on MATH) | "
                         f"{pct(row['final_accuracy'])} |")
    if summary.get("prover_values"):
        values = ", ".join(f"mu_{g} {v:.3f}" for g, v in summary["prover_values"].items())
        lines += ["", f"Prover saturation at horizon {horizon}: V^mu(prompt), mu's exact success probability from the "
                      f"bare prompt (mean over the test problems): {values}. Near 1, a prover succeeds from almost "
                      "any state and its advantages vanish."]
    for gamma, fit in summary.get("learned_pav_fit", {}).items():
        lines += ["", f"The learned mu_{gamma} model against mu_{gamma}'s exact values (200 held-out problems x 4 "
                      "responses of each policy): "
                  + "; ".join(f"on {who}'s responses (mu_{gamma} succeeds {row['success']:.1%}) values r = "
                              f"{row['value_corr']:.2f}, MAE {row['value_mae']:.3f}, advantages r = "
                              f"{row['advantage_corr']:.2f}, sd {row['advantage_sd']:.3f} vs exact "
                              f"{row['exact_advantage_sd']:.3f}" for who, row in fit.items()) + "."]
    lines += ["", "Test accuracy per arm (mean over seeds), the mean longest run of y* in test responses "
              f"(0..5; start policy: {summary['matched_prefix_start']:.2f}), and the probability the final "
              "policy puts on the right next token in each match state k (mu_5: "
              f"{5 / 18:.2f} in every state, uniform: {1 / 14:.2f}; start policy: "
              f"{rules_text(summary['rule_probabilities_start'])}):", "",
              "| arm | seeds | start | final mean [min, max] | best mean | samples | samples to "
              f"{' / '.join(f'{t}%' for t in REACH_LEVELS)} (seed mean) | final y* run | "
              "P(y*_k+1 in state k), k = 0..4 |" + (" train response tokens (last iteration) |" if tokens else ""),
              "|---|---|---|---|---|---|---|---|---|" + ("---|" if tokens else "")]
    for name, row in arms.items():
        lines.append(f"| {name} | {row['seeds']} | {pct(row['start_accuracy'])} | {pct(row['final_accuracy'])} "
                     f"[{pct(row['final_min'])}, {pct(row['final_max'])}] | {pct(row['best_mean_accuracy'])} | "
                     f"{row['samples']:.0f} | {reached(row)} | {row['final_matched_prefix']:.2f} | "
                     f"{rules_text(row['final_rule_probabilities'])} |" + (f" {row['final_response_tokens']:.1f} |"
                                                                           if tokens else ""))
    return "\n".join(lines) + "\n"


def run_planted_rl_study(config: PlantedRLStudyConfig, command: str = "pavlab study rl-planted") -> Path:
    """Every arm x seed from one SFT start; writes rl_planted.{json,csv,png} under `config.out` and returns the
    path of rl_planted.json (settings, arms, curves, and the summary with its Markdown section).

    Each RL run resumes and a finished start policy is reused, so an interrupted study can simply be rerun.
    """
    gammas, seeds, iterations, alpha = tuple(config.gammas), tuple(config.seeds), config.iterations, config.alpha
    horizon = config.horizon
    out_dir = Path(config.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    start_policy = config.start_policy
    if start_policy is None:
        start_policy = out_dir / "start"
        if not (start_policy / "config.json").exists():
            if config.start is None:
                copy_shipped_testbed("planted", start_policy)
            else:
                train_planted_start(start_policy, model=config.start, horizon=horizon, **START_SFT)
    warning = horizon_mismatch(start_policy, horizon)
    if warning is not None:
        print(warning, file=sys.stderr)
    shared = {**SHARED_SETTINGS, "max_new_tokens": max_new_tokens(horizon), "eval_every": min(config.eval_every,
              iterations), **config.settings}
    learned = {g: train_prover_model(out_dir / "pav", start_policy, planted_task(horizon), g, config.learned,
                                     max_new_tokens(horizon)) for g in config.learned_gammas}  # gamma -> its model
    arms = study_arms(gammas, alpha, config.ablation_gamma, config.orm_factor, learned, config.learned_ablation)

    def config_for(arm: RewardArm, seed: int) -> RLConfig:
        return RLConfig(task=planted_task(horizon), policy=str(start_policy), seed=seed,
                        iterations=iterations * arm.iteration_factor,
                        out=out_dir / "runs" / arm.folder / f"seed{seed}", **shared, **arm.overrides())

    runs = run_arms(arms, seeds, config_for, config.workers)
    summary = summarize_arms(arms, runs.curves)
    summary["batch"] = shared["problems_per_iteration"] * shared["group_size"]
    summary["horizon"] = horizon
    prover_gammas = [*gammas, *([] if config.ablation_gamma in (None, *gammas) else [config.ablation_gamma])]
    summary["prover_values"] = bare_prompt_values(prover_gammas, PlantedTask(horizon).problems(
        "test", shared["eval_problems"]), horizon)
    for name, (samples, accuracy) in summary["mean_curves"].items():
        for level in REACH_LEVELS:
            summary["arms"][name][f"samples_to_{level}"] = samples_to_reach(samples, accuracy, level / 100)
    summary["matched_prefix_start"] = matched_prefix(start_policy, shared["eval_problems"], shared["eval_samples"],
                                                     seeds[0], horizon)
    for arm in arms:
        summary["arms"][arm.name]["final_response_tokens"] = runs.last_metric(arm.name, "response_tokens")
        summary["arms"][arm.name]["final_matched_prefix"] = float(np.mean([
            matched_prefix(run_dir / "policy", shared["eval_problems"], shared["eval_samples"], seed, horizon)
            for seed, run_dir in runs.run_dirs[arm.name].items()]))
    if learned:
        summary["learned_pav_fit"] = {
            f"{g:g}": fit_to_exact(model, g, {"start policy": str(start_policy), f"mu_{g:g}": f"mu:{g:g}"}, horizon,
                                   max_new_tokens(horizon), seed=seeds[0])
            for g, model in learned.items()}
    summary["rule_probabilities_start"] = rule_probabilities(start_policy, seed=seeds[0])
    for arm in arms:
        per_seed = [rule_probabilities(run_dir / "policy", seed=seed)
                    for seed, run_dir in runs.run_dirs[arm.name].items()]
        summary["arms"][arm.name]["final_rule_probabilities"] = np.mean(per_seed, axis=0).tolist()
    summary["markdown"] = markdown_section(summary, command)
    write_json(out_dir / RL_PLANTED_FILE, {
        "settings": {**shared, "iterations": iterations, "alpha": alpha, "horizon": horizon, "seeds": list(seeds),
                     "gammas": list(gammas), "learned_gammas": list(config.learned_gammas),
                     "learned": config.learned.model_dump() if learned else None, "start_policy": str(start_policy)},
        "arms": [asdict(arm) for arm in arms], "curves": runs.rows(), "summary": summary})
    write_curves_csv(out_dir / "rl_planted.csv", runs)
    plot_arm_curves(out_dir / "rl_planted.png", runs, summary,
                    title=f"planted, horizon {horizon}: RL from a mu_5 SFT policy (alpha {alpha:g})")
    return out_dir / RL_PLANTED_FILE
