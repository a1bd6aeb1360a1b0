"""The testbed RL study: ORM-RL vs PAV-RL with a trained PAV, from the testbed policy (the file names
keep the name of its first testbed, countdown; it now runs on the subset-sum testbed by default).

Why a study module: PAPER.md's "Online RL" claims are comparisons of reward arms that share every
other setting — learning curves with seeds, the sample-efficiency ratio, Pass@N of the final
policies, and problems that the final PAV-RL policy plus PAV beam search solves although the
start policy fails them at best-of-256. This module owns that protocol:

1. RL runs: ORM-RL (alpha 0), PAV-RL for each alpha, and (optionally) the Q + alpha*Q^mu
   ablation, each from the same start policy with the same PAV (a fixed Q^pi verifier + prover);
   optionally PAV-RL with exact prover values: the 0/1 oracle, and the noisy solver `solver:P`
   (graded; how a prover's strength, not a verifier's errors, sets the gain);
2. learning curves, seed spread and sample-efficiency ratios (`rl_curves`);
3. Pass@N (unbiased, exact oracle) of the start policy and every final policy on the first
   `pass_problems` test problems, which are also the RL runs' held-out problems;
4. the screened test problems where the start policy has no correct sample among
   `screen_samples`, and how many of them each final policy (and the start policy, the control)
   solves with PAV beam search at each beam budget.

The study writes rl_countdown.{json,csv,png,md} as soon as training is done, with the evaluation
pending (`"evaluation": null`), and again with it once steps 3-4 are done; `--evals.skip` stops
after training, keeping the evaluation an earlier run of the same study wrote. `workers` processes
train the runs and then evaluate the policies (one policy's counts or beams per job). Every RL run
resumes and every evaluation is cached per policy under `evals/`, so rerunning the command only does
what is missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from pavlab.cache import cached_json
from pavlab.config import Config, FloatList, IntList, PresetConfig
from pavlab.errors import PavlabError
from pavlab.io import atomic_open, read_json, write_json
from pavlab.metrics import powers_of_two_up_to
from pavlab.policies.base import SamplingParams
from pavlab.policies.prover_spec import PavProverSpec, is_exact_prover, reads_q_pi
from pavlab.policies.registry import build_policy
from pavlab.policies.start_task import StartTaskConfig
from pavlab.policies.testbed import shipped_testbed
from pavlab.provers.rank import ranked_prover, spearman
from pavlab.rl.config import RLConfig
from pavlab.rl.scoring import exact_prefix_value
from pavlab.search.scorers import build_scorer
from pavlab.shards import chunk_seed
from pavlab.studies.plots import plot_seed_curves, save_figure
from pavlab.studies.policy_evals import (
    beam_rows,
    correct_counts,
    pass_at_n_curve,
    seed_spread,
    solved_among,
    unsolved,
    weights_fingerprint,
)
from pavlab.studies.rl_curves import (
    ArmRuns,
    RewardArm,
    plot_arm_curves,
    ratio_text,
    run_arms,
    run_in_processes,
    summarize_arms,
    write_curves_csv,
)
from pavlab.studies.search_cells import pct, spread
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.verifiers.step_scores import ProcessVerifier

TESTBED_TASK = TaskConfig(name="subset_sum")
RL_COUNTDOWN_FILE = "rl_countdown.json"
START_LABEL = "start"
PENDING = ("pending (the final-policy evaluation is not done yet: it runs after training unless --evals.skip, "
           "and a rerun computes only the evaluations not cached under evals/)")

# Settings shared by every arm (only alpha, prover and reward differ), the paper's recipe: RFT on
# the policy's own correct samples first, 16 problems x 4 samples = 64 responses per iteration, the
# learned token-level value baseline (leave-one-out is one number per response and cannot centre
# per-step advantages: RESULTS.md section 5), KL 0.001 to the start policy, 10% warm-up then
# cosine decay; held-out accuracy on 512 test problems x 8 samples.
SHARED_SETTINGS: dict[str, Any] = {
    "problems_per_iteration": 16, "group_size": 4, "lr": 1e-4, "warmup_fraction": 0.1, "min_lr_ratio": 0.0,
    "kl_coef": 0.001, "baseline": "value", "rft_steps": 50, "max_new_tokens": 96, "eval_problems": 512,
    "eval_samples": 8, "checkpoint_every": 25, "threads": 1, "progress": False,
}


class EvalSettings(Config):
    """How every final policy is measured (identical for all of them)."""

    # Pass@256 costs 256 samples per problem and policy (~12 CPU-min per policy on 512 problems at the
    # study shape), so Pass@N reads the first 128 of the runs' held-out problems; final accuracy keeps all 512.
    pass_problems: int = Field(128, description="first test problems for Pass@N (the RL runs' held-out problems "
                                                "are the first eval_problems)")
    pass_samples: int = Field(256, description="samples per problem: Pass@N for N = 1, 2, 4 .. pass_samples")
    screen_problems: int = Field(512, description="first test problems screened with the start policy for "
                                                  "'beyond best-of-K'")
    screen_samples: int = Field(256, description="K of best-of-K")
    beam_budgets: IntList = Field([16, 32], min_length=1, description="PAV beam widths on the problems the start "
                                  "fails at best-of-K (comma-separated)")
    beam_alpha: float = Field(0.5, description="Q^pi + alpha * A^mu, the demo's and the recipe's search setting")
    candidates: int = 3
    max_depth: int = 10
    step_tokens: int = 32
    max_new_tokens: int = 96
    skip: bool = Field(False, description="train only: write the training summary and leave the final-policy "
                                          "evaluation (hours at the full settings) to a rerun without this flag")

    def check(self) -> None:
        """The start policy's Pass@N is read off its screen, so the screen must cover the Pass@N problems."""
        if self.screen_problems < self.pass_problems or self.screen_samples < self.pass_samples:
            raise PavlabError(f"the start-policy screen ({self.screen_problems} problems x {self.screen_samples}) "
                              f"must cover Pass@N ({self.pass_problems} x {self.pass_samples})", field="evals")


class CountdownRLStudyConfig(PresetConfig, StartTaskConfig):
    """`pavlab study rl-countdown`: ORM-RL vs PAV-RL arms from one start policy with one PAV, then the evaluations."""

    QUICK: ClassVar[dict[str, Any]] = {
        "alphas": [1.0], "ablation": False, "seeds": [0, 1], "iterations": 20, "eval_every": 10,
        "settings": {"eval_problems": 32, "eval_samples": 2, "rft_steps": 5, "rft_problems": 32},
        "evals": {"pass_problems": 32, "pass_samples": 16, "screen_problems": 64, "screen_samples": 32,
                  "beam_budgets": [4, 8]}}

    out: Path = Field(..., description="study folder (rerun the same command to resume)")
    quick: bool = Field(False, description="one alpha, few iterations, small evaluations")
    verifier: Path | None = Field(None, description="Q^pi verifier folder of the PAV (fixed during RL): what the beam "
                                  "evaluations and a bok:K prover read; a model:DIR prover is its own verifier, so "
                                  "with --evals.skip true a study of model: or exact provers needs none")
    policy: Path | None = Field(None, description="start policy checkpoint (default: the shipped subset-sum "
                                                  "testbed)")
    prover: PavProverSpec = Field("bok:4", description="prover of the PAV's advantages (bok:K or model:DIR)")
    task: TaskConfig = TESTBED_TASK
    alphas: FloatList = Field([0.5, 1.0, 3.0, 5.0], description="PAV-RL alphas of the learned PAV (comma-separated; "
                              "empty for a study of exact provers only)")
    oracle_alphas: FloatList = Field([], description="PAV-RL arms whose prover values come from the task's exact "
                                     "prefix oracle (the ceiling of dead-end detection; comma-separated)")
    solvers: FloatList = Field([], description="good-move probabilities P of exact graded provers solver:P (the "
                               "testbed's noisy solver; P = 1 is the oracle), each run at every --solver_alphas")
    solver_alphas: FloatList = Field([1.0], min_length=1, description="alphas of the solver:P arms (comma-separated)")
    ablation: bool = Field(True, description="the Q + alpha*Q^mu arm (--no-ablation: off)")
    ablation_alpha: float = Field(1.0, gt=0, description="the ablation's alpha (compare it with the PAV-RL arm of "
                                  "the same alpha)")
    seeds: IntList = Field([0, 1, 2, 3, 4, 5], min_length=1, description="RL seeds (comma-separated)")
    iterations: int = Field(200, ge=1, description="RL iterations per run")
    eval_every: int = Field(50, ge=1, description="held-out evaluation every this many iterations")
    settings: dict[str, Any] = Field({}, description="RLConfig fields that override SHARED_SETTINGS for every arm")
    pav_settings: dict[str, Any] = Field({}, description="RLConfig fields that override --settings for the arms "
                                         "with a prover only (e.g. keep a line's arithmetic out of the reach of "
                                         "a learned PAV's reward); ORM-RL keeps --settings, so its runs resume")
    evals: EvalSettings = EvalSettings()
    workers: int = Field(1, ge=1, description="RL runs trained, then policies evaluated, at once (processes, "
                                              "1 thread each)")
    prover_rank: Path | None = Field(None, description="a `pavlab prover rank` ranking.json: the study reports the "
                                     "bound's prediction for its prover beside the RL outcome")
    prover_rank_spec: str | None = Field(None, description="the ranked candidate the prover stands for (default: "
                                         "--prover; e.g. bok:16 for a verifier trained on Bo16 values)")

    @model_validator(mode="after")
    def _some_pav_arm(self) -> CountdownRLStudyConfig:
        if not (self.alphas or self.oracle_alphas or self.solvers):
            raise ValueError("no PAV-RL arm: give --alphas, --oracle_alphas or --solvers")
        if self.verifier is None and not self.evals.skip:
            raise ValueError("the beam evaluations read the PAV's Q^pi: give --verifier DIR, or --evals.skip true")
        if self.verifier is None and (self.alphas or self.ablation) and reads_q_pi(self.prover):
            arms = " and ".join(name for name, on in (("--alphas", self.alphas), ("the ablation", self.ablation)) if on)
            raise ValueError(f"{arms}: prover {self.prover!r} is read from a Q^pi verifier; give --verifier DIR or "
                             f"--prover model:DIR, or --alphas '' --no-ablation for exact provers only")
        return self

    @field_validator("settings", "pav_settings")
    @classmethod
    def _not_an_arm_field(cls, value: dict[str, Any]) -> dict[str, Any]:
        """alpha, reward and prover are what makes an arm; --alphas, --solvers etc. set them."""
        owned = sorted(set(value) & set(RewardArm("ORM-RL").overrides()))
        if owned:
            raise ValueError(f"{', '.join(owned)} is set per arm (--alphas, --oracle_alphas, --solvers, --prover), "
                             "not in settings")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_ablation(cls, data: Any) -> Any:
        """`--no-ablation`, the flag's spelling before the study had a typed config."""
        if isinstance(data, dict) and "no_ablation" in data:
            data = dict(data)
            data.setdefault("ablation", not data.pop("no_ablation"))
        return data


def study_arms(alphas: Sequence[float], prover: str, ablation_alpha: float | None,
               oracle_alphas: Sequence[float] = (), solvers: Sequence[float] = (),
               solver_alphas: Sequence[float] = ()) -> list[RewardArm]:
    """ORM-RL, PAV-RL for each alpha, oracle-prover PAV-RL for each oracle alpha, solver:P PAV-RL for each
    solver P and solver alpha, and (unless None) the values-not-advantages ablation at `ablation_alpha`."""
    arms = [RewardArm("ORM-RL"), *(RewardArm(f"PAV-RL alpha {a:g}", a, prover=prover) for a in alphas),
            *(RewardArm(f"Oracle-PAV-RL alpha {a:g}", a, prover="oracle") for a in oracle_alphas),
            *(RewardArm(f"Solver-{p:g}-PAV-RL alpha {a:g}", a, prover=f"solver:{p:g}")
              for p in solvers for a in solver_alphas)]
    if ablation_alpha is not None:
        arms.append(RewardArm(f"Q+aQ^mu alpha {ablation_alpha:g}", ablation_alpha, "q_plus_q_mu", prover))
    return arms


class PolicyEvaluator:
    """Pass@N counts and beam searches of one policy at a time, cached as JSON files under `folder`."""

    def __init__(self, folder: Path, task_config: TaskConfig, verifier: Path, prover: str,
                 evals: EvalSettings) -> None:
        self.folder, self.task_config, self.evals = Path(folder), task_config, evals
        self.task: Task = get_task(task_config)
        self.screened = self.task.problems("test", evals.screen_problems)
        self.verifier_path, self.prover = Path(verifier), prover
        self.scorer = build_scorer("q+a", self.task, ProcessVerifier.load(verifier, prover), evals.beam_alpha)

    def __reduce__(self) -> tuple[type[PolicyEvaluator], tuple[Any, ...]]:
        """Pickles as its settings: an evaluation worker process rebuilds it (loads the PAV) instead of receiving it."""
        return type(self), (self.folder, self.task_config, self.verifier_path, self.prover, self.evals)

    def key(self, policy_dir: Path, **extra: Any) -> dict[str, Any]:
        return {"task": self.task_config.model_dump(mode="json"), "policy": weights_fingerprint(policy_dir),
                "max_new_tokens": self.evals.max_new_tokens, **extra}

    def counts(self, label: str, policy_dir: Path, problems: int, samples: int, seed: int) -> list[int]:
        """Correct samples per problem for the first `problems` test problems (cached)."""
        def compute() -> list[int]:
            policy = build_policy(str(policy_dir), self.task)
            params = SamplingParams(max_new_tokens=self.evals.max_new_tokens, seed=seed)
            return correct_counts(self.task, policy, self.screened[:problems], samples, params)

        return cached_json(self.folder / f"counts-{label}.json",
                           self.key(policy_dir, problems=problems, samples=samples, seed=seed), compute)

    def beam(self, label: str, policy_dir: Path, hard: Sequence[str], width: int, seed: int) -> list[dict[str, Any]]:
        """PAV beam search of the policy at beam width `width` on the `hard` problems (cached)."""
        evals = self.evals

        def compute() -> list[dict[str, Any]]:
            policy = build_policy(str(policy_dir), self.task)
            wanted = set(hard)
            problems = [p for p in self.screened if p.id in wanted]
            params = SamplingParams(max_new_tokens=evals.step_tokens, seed=chunk_seed(seed, width))
            return beam_rows(self.task, policy, self.scorer, problems, width, params, evals.candidates,
                             evals.max_depth)

        key = self.key(policy_dir, hard=sorted(hard), width=width, seed=seed, verifier=str(self.verifier_path),
                       prover=self.prover, alpha=evals.beam_alpha, candidates=evals.candidates,
                       max_depth=evals.max_depth, step_tokens=evals.step_tokens)
        return cached_json(self.folder / f"beam-{label}-n{width}.json", key, compute)


@dataclass(frozen=True)
class SeedPolicy:
    """One seed's policy to evaluate: its arm (or the start), cache label, checkpoint and evaluation seed."""

    arm: str
    label: str
    policy_dir: Path
    seed: int


def seed_policies(start_policy: Path, runs: ArmRuns, seeds: Sequence[int]) -> list[SeedPolicy]:
    """The start policy once per seed (its beams), then every arm's final policy per seed, in the output's order."""
    starts = [SeedPolicy(START_LABEL, f"{START_LABEL}-seed{seed}", start_policy, seed) for seed in seeds]
    return starts + [SeedPolicy(arm.name, f"{arm.folder}-seed{seed}", run_dir / "policy", seed)
                     for arm in runs.arms for seed, run_dir in runs.run_dirs[arm.name].items()]


def start_screen(evaluator: PolicyEvaluator, start_policy: Path) -> list[int]:
    """The start policy's correct samples among `screen_samples` on each screened problem (cached)."""
    evals = evaluator.evals
    return evaluator.counts(START_LABEL, start_policy, evals.screen_problems, evals.screen_samples, seed=0)


def final_counts(evaluator: PolicyEvaluator, policy: SeedPolicy) -> list[int]:
    """A final policy's correct samples among `pass_samples` on each Pass@N problem (cached)."""
    evals = evaluator.evals
    return evaluator.counts(policy.label, policy.policy_dir, evals.pass_problems, evals.pass_samples, policy.seed)


def policy_beams(evaluator: PolicyEvaluator, policy: SeedPolicy,
                 hard: Sequence[str]) -> dict[int, list[dict[str, Any]]]:
    """A policy's PAV beam search on the `hard` problems at every beam budget (cached)."""
    return {width: evaluator.beam(policy.label, policy.policy_dir, hard, width, policy.seed)
            for width in evaluator.evals.beam_budgets}


def evaluate_policies(evaluator: PolicyEvaluator, start_policy: Path, runs: ArmRuns,
                      seeds: Sequence[int], workers: int = 1) -> dict[str, Any]:
    """Pass@N of the start and every final policy, the start's unsolved screen problems, and beam counts on them.

    With `workers` > 1 the counts, then (once the start's screen says which problems are hard) the
    beams, are computed one policy per process into their cache files; the result is then read
    back from the caches in the serial order, so it is the same for any number of workers.
    """
    evals = evaluator.evals
    policies = seed_policies(start_policy, runs, seeds)
    finals = [policy for policy in policies if policy.arm != START_LABEL]
    if workers > 1:
        run_in_processes([partial(start_screen, evaluator, start_policy),
                          *(partial(final_counts, evaluator, policy) for policy in finals)], workers)
    budgets = powers_of_two_up_to(evals.pass_samples)
    screen = start_screen(evaluator, start_policy)
    hard = unsolved([p.id for p in evaluator.screened], screen)
    if workers > 1:
        run_in_processes([partial(policy_beams, evaluator, policy, hard) for policy in policies], workers)
    pass_at_n = {START_LABEL: seed_spread({0: pass_at_n_curve(screen[:evals.pass_problems], evals.screen_samples,
                                                                budgets)})}
    beams: dict[str, dict[str, dict[str, list[int]]]] = {START_LABEL: {}}
    per_seed: dict[str, dict[int, list[float]]] = {arm.name: {} for arm in runs.arms}
    for policy in policies:
        if policy.arm != START_LABEL:
            per_seed[policy.arm][policy.seed] = pass_at_n_curve(final_counts(evaluator, policy), evals.pass_samples,
                                                                budgets)
        for width, rows in policy_beams(evaluator, policy, hard).items():
            record_beam(beams.setdefault(policy.arm, {}), width, hard, rows)
    for arm in runs.arms:
        pass_at_n[arm.name] = {**seed_spread(per_seed[arm.name]), "per_seed": per_seed[arm.name]}
    return {"budgets": budgets, "pass_at_n": pass_at_n, "screened": len(screen), "hard": hard, "beam": beams}


def record_beam(into: dict[str, dict[str, list[int]]], width: int, hard: Sequence[str],
                rows: Sequence[dict[str, Any]]) -> None:
    """Append one seed's counts of solved hard problems (pick correct / any beam correct) at `width`."""
    cell = into.setdefault(str(width), {"picked": [], "any": []})
    cell["picked"].append(solved_among(hard, rows, "correct"))
    cell["any"].append(solved_among(hard, rows, "pass_at_n"))


def points(a: float, b: float) -> str:
    """The difference of two accuracies in percentage points, signed."""
    return f"{100 * (a - b):+.1f} points"


def claims(summary: dict[str, Any], evaluation: dict[str, Any] | None, settings: dict[str, Any]) -> list[str]:
    """Rows of the claim | paper | measured here table (the Pass@N and beam claims: one pending row until evaluated)."""
    arms, efficiency = summary["arms"], summary["sample_efficiency"]
    orm = arms["ORM-RL"]
    rows = []
    learned = [name for name in efficiency if not is_exact_prover(arms[name]["prover"])]
    if learned:
        best = max(learned, key=lambda name: arms[name]["final_accuracy"])
        row = arms[best]
        every_seed = "yes" if row["final_min"] > orm["final_max"] else "no"
        rows += [f"| PAV-RL beats ORM-RL in accuracy | > +7 points | best arm {best}: {pct(row['final_accuracy'])} vs "
                 f"{pct(orm['final_accuracy'])} ({points(row['final_accuracy'], orm['final_accuracy'])}; every seed "
                 f"above ORM-RL's best seed: {every_seed}) |",
                 f"| PAV-RL over the start policy | +11 points (2B) | {best}: "
                 f"{points(row['final_accuracy'], row['start_accuracy'])}; ORM-RL: "
                 f"{points(orm['final_accuracy'], orm['start_accuracy'])} |",
                 "| sample efficiency vs ORM-RL | 5-6x | "
                 + "; ".join(f"{name}: {ratio_text(eff)}" for name, eff in efficiency.items()) + " |"]
        rows += (evaluation_claims(evaluation, best, settings) if evaluation else
                 [f"| Pass@N and PAV-RL + beam beyond best-of-{settings['screen_samples']} | > +7 points at every N; "
                  f"yes | {PENDING} |"])
    bound = summary.get("prover_bound")
    if learned and bound:
        rows.append(bound_claim(bound, points(arms[best]["final_accuracy"], orm["final_accuracy"])))
    rows += exact_bound_claims(summary)
    rows += [f"| {name}: exact prover values ({arms[name]['prover']}) | (not in the paper) | "
             f"{pct(row['final_accuracy'])} vs ORM-RL {pct(orm['final_accuracy'])} "
             f"({points(row['final_accuracy'], orm['final_accuracy'])}); sample efficiency "
             f"{ratio_text(efficiency[name]) if name in efficiency else 'n/a'} |"
             for name, row in arms.items() if is_exact_prover(row["prover"])]
    rows += [f"| {name} (values, not advantages) | hacked: opens with filler steps | {pct(row['final_accuracy'])}; "
             f"train responses {row['final_response_tokens']:.1f} tokens vs {orm['final_response_tokens']:.1f} "
             "(ORM-RL) |" for name, row in arms.items() if row["reward"] == "q_plus_q_mu"]
    return rows


def exact_prover_bounds(ranking: Path, arms: Sequence[RewardArm]) -> dict[str, dict[str, Any] | None]:
    """The bound of every exact-prover arm (`oracle`, `solver:P`) whose spec the ranking holds; None for one it
    does not (the claims say "not ranked")."""
    specs = {row.get("spec") for row in read_json(ranking).get("ranking") or []}
    return {arm.name: ranked_prover(ranking, str(arm.prover)) if arm.prover in specs else None
            for arm in arms if is_exact_prover(arm.prover)}


def exact_prover_strength(task: Task, arms: Sequence[RewardArm], problems: Sequence[Problem]) -> dict[str, float]:
    """How often each exact prover of the study solves the held-out problems from the start (the oracle: 1 on a
    solvable set): the x axis of rl_countdown_provers.png, next to the start policy's accuracy."""
    values = {prover: exact_prefix_value(task, prover) for prover in (str(arm.prover) for arm in arms
                                                                     if is_exact_prover(arm.prover))}
    return {prover: float(np.mean([value(problem, []) for problem in problems])) for prover, value in values.items()}


def plot_prover_strength(path: Path, summary: dict[str, Any], task: str) -> Path:
    """Final gain over ORM-RL (paired 95% CI) against each exact prover's success rate, one line per alpha,
    with the start policy's accuracy marked: where in strength the useful provers sit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms, strengths = summary["arms"], summary["exact_prover_strength"]
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for alpha in sorted({row["alpha"] for row in arms.values() if row["prover"] in strengths}):
        rows = sorted((row for row in arms.values() if row["prover"] in strengths and row["alpha"] == alpha),
                      key=lambda row: strengths[row["prover"]])
        x = [strengths[row["prover"]] for row in rows]
        gain = np.array([100 * row["final_gain_vs_orm"] for row in rows])
        low, high = (np.array([100 * row["final_gain_ci"][i] for row in rows]) for i in (0, 1))
        axes.errorbar(x, gain, yerr=[np.clip(gain - low, 0, None), np.clip(high - gain, 0, None)], marker="o",
                      capsize=3, label=f"alpha {alpha:g}")
        for xi, gi, row in zip(x, gain, rows, strict=True):
            axes.annotate(row["prover"], (xi, gi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.axvline(arms["ORM-RL"]["start_accuracy"], color="grey", linestyle="--", linewidth=0.8,
                 label="start policy's accuracy")
    return save_figure(figure, axes, path, xlabel="prover's success rate from the start (held-out problems)",
                       ylabel="final accuracy - ORM-RL's (points, paired 95% CI)",
                       title=f"{task}: PAV-RL with exact provers of every strength")


def exact_bound_claims(summary: dict[str, Any]) -> list[str]:
    """One claims row per alpha of the exact-prover arms: each prover's bound beside its measured gain, and the
    Spearman correlation of the two (does the bound order provers as RL does?)."""
    bounds, arms = summary.get("exact_prover_bounds") or {}, summary["arms"]
    orm = arms["ORM-RL"]["final_accuracy"]
    rows = []
    for alpha in sorted({arms[name]["alpha"] for name in bounds}):
        at_alpha = [name for name in bounds if arms[name]["alpha"] == alpha]
        ranked = sorted((name for name in at_alpha if bounds[name] is not None),
                        key=lambda name: -bounds[name]["total"]["value"])
        names = ranked + [name for name in at_alpha if bounds[name] is None]
        cells = [f"{arms[name]['prover']}: " + ("not ranked" if bounds[name] is None else
                                                f"{bounds[name]['total']['value']:.3f}")
                 + f" -> {points(arms[name]['final_accuracy'], orm)}" for name in names]
        totals, finals = [bounds[n]["total"]["value"] for n in ranked], [arms[n]["final_accuracy"] for n in ranked]
        agreement = "" if len(ranked) < 3 else f"; Spearman(bound, gain) = {spearman(totals, finals):+.2f}"
        rows.append(f"| the bound orders exact provers as RL does, alpha {alpha:g} | larger bound, larger gain | "
                    + "; ".join(cells) + agreement + " |")
    return rows


def bound_claim(bound: dict[str, Any], measured: str) -> str:
    """The claims row setting the prover bound (distinguishability + alignment) beside the measured RL gain."""
    total = bound["total"]
    baseline = ("" if bound["mu_is_pi_total"] is None else
                f"; mu = pi (bok:1): {bound['mu_is_pi_total']['value']:.3f}")
    return (f"| the prover bound (distinguishability + alignment) predicts the gain | larger bound, larger gain | "
            f"{bound['spec']}: {total['value']:.3f} [{total['low']:.3f}, {total['high']:.3f}], rank {bound['rank']} "
            f"of {bound['candidates']} (best {bound['best']}){baseline}; measured: best learned arm {measured} "
            "vs ORM-RL |")


def evaluation_claims(evaluation: dict[str, Any], best: str, settings: dict[str, Any]) -> list[str]:
    """The claims on the final policies' Pass@N and PAV beam search, for the best learned PAV arm `best`."""
    budgets, curves = evaluation["budgets"], evaluation["pass_at_n"]
    gaps = [p - o for p, o in zip(curves[best]["mean"], curves["ORM-RL"]["mean"], strict=True)]
    below = [n for n, o, s in zip(budgets, curves["ORM-RL"]["mean"], curves[START_LABEL]["mean"], strict=True)
             if o < s]
    return [f"| Pass@N: PAV-RL above ORM-RL at every N <= {budgets[-1]} | > +7 points at every N | {best} "
            f"above at {sum(g > 0 for g in gaps)} of {len(budgets)} N (gap {100 * min(gaps):+.1f} to "
            f"{100 * max(gaps):+.1f} points) |",
            f"| ORM-RL Pass@N below the start policy at large N | at N >= 64 | below at N = "
            f"{', '.join(map(str, below)) or 'none'} |",
            f"| PAV-RL + beam (N = {'/'.join(map(str, settings['beam_budgets']))}) solves problems the start "
            f"policy fails at best-of-{settings['screen_samples']} | yes | {beam_claim(evaluation, best)} |"]


def beam_claim(evaluation: dict[str, Any], best: str) -> str:
    """Solved counts (picked / any beam) of the best PAV arm, ORM-RL and the start policy at the largest budget."""
    beams, hard = evaluation["beam"], evaluation["hard"]
    if not hard:
        return "n/a: the start policy solves every screened problem"
    width = str(max(int(n) for n in beams[START_LABEL]))

    def solved(name: str) -> str:
        return f"{np.mean(beams[name][width]['picked']):.1f} / {np.mean(beams[name][width]['any']):.1f}"

    return (f"of {len(hard)} such problems, at N = {width} (seed mean, picked / any beam): {best} {solved(best)}, "
            f"ORM-RL {solved('ORM-RL')}, start policy {solved(START_LABEL)}")


def table_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def arm_table(summary: dict[str, Any], evaluation: dict[str, Any] | None, settings: dict[str, Any]) -> list[str]:
    """Per-arm held-out accuracy and, once evaluated, Pass@1 / Pass@max of the final (and the start) policies."""
    intro = "Held-out accuracy per arm (final value of each seed: mean [min, max])"
    passes: dict[str, list[str]] = {}  # policy -> its Pass@1 and Pass@max cells; none while the evaluation is pending
    pass_columns: list[str] = []
    if evaluation is not None:
        curves, top = evaluation["pass_at_n"], evaluation["budgets"][-1]
        intro += (f" and Pass@1 / Pass@{top} of the final policies ({settings['pass_problems']} test problems x "
                  f"{settings['pass_samples']} samples; the start policy's from its {settings['screen_samples']}-"
                  "sample screen)")
        passes = {name: [spread([c[0] for c in curve["per_seed"].values()]),
                         spread([c[-1] for c in curve["per_seed"].values()])]
                  for name, curve in curves.items() if name != START_LABEL}
        passes[START_LABEL] = [pct(curves[START_LABEL]["mean"][0]), pct(curves[START_LABEL]["mean"][-1])]
        pass_columns = ["Pass@1", f"Pass@{top}"]
    columns = ["arm", "seeds", "start", "final mean [min, max]", "best mean", "samples",
               *pass_columns, "train response tokens (last iteration)"]
    lines = [f"{intro}:", "", table_row(columns), "|" + "---|" * len(columns)]
    if passes:
        lines.append(table_row(["start policy", "-", "-", "-", "-", 0, *passes[START_LABEL], "-"]))
    lines += [table_row([name, row["seeds"], pct(row["start_accuracy"]),
                         f"{pct(row['final_accuracy'])} [{pct(row['final_min'])}, {pct(row['final_max'])}]",
                         pct(row["best_mean_accuracy"]), f"{row['samples']:.0f}", *passes.get(name, []),
                         f"{row['final_response_tokens']:.1f}"]) for name, row in summary["arms"].items()]
    return lines


def evaluation_tables(evaluation: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Pass@N of every policy, and the beyond-best-of-K counts of PAV beam search."""
    budgets, curves, widths = evaluation["budgets"], evaluation["pass_at_n"], settings["beam_budgets"]
    lines = ["Pass@N (seed mean):", "", "| policy | " + " | ".join(f"N={n}" for n in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    lines += [f"| {name} | " + " | ".join(pct(v) for v in curve["mean"]) + " |" for name, curve in curves.items()]
    lines += ["", f"Beyond best-of-{settings['screen_samples']}: {len(evaluation['hard'])} of {evaluation['screened']} "
              f"screened test problems have no correct answer among {settings['screen_samples']} samples of the start "
              f"policy. Solved by PAV beam search (q+a, alpha {settings['beam_alpha']:g}, "
              f"C = {settings['candidates']}, depth {settings['max_depth']}); each seed as picked/any: the picked "
              "answer is correct / some final beam is correct:", "",
              "| policy + PAV beam | " + " | ".join(f"N={n}" for n in widths) + " |", "|---|" + "---|" * len(widths)]
    lines += [f"| {name} | " + " | ".join(", ".join(f"{p}/{a}" for p, a in zip(cells[str(n)]["picked"],
                                                                              cells[str(n)]["any"], strict=True))
                                        for n in widths) + " |" for name, cells in evaluation["beam"].items()]
    return lines


def tables(summary: dict[str, Any], evaluation: dict[str, Any] | None, settings: dict[str, Any]) -> list[str]:
    """Per-arm accuracy (and Pass@1/Pass@max), sample efficiency, then Pass@N and the beyond-best-of-K counts."""
    lines = arm_table(summary, evaluation, settings)
    lines += ["", "Sample efficiency (samples at which a seed-mean curve first reaches ORM-RL's best mean):", "",
              "| arm | ORM-RL best mean | ORM-RL samples | PAV-RL samples | ratio |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {pct(eff['orm_best_accuracy'])} | {eff['orm_samples']:.0f} | "
              f"{'never' if eff['pav_samples'] is None else format(eff['pav_samples'], '.0f')} | "
              f"{ratio_text(eff)} |" for name, eff in summary["sample_efficiency"].items()]
    return lines + ["", *(evaluation_tables(evaluation, settings) if evaluation else
                          [f"Pass@N and beyond best-of-{settings['screen_samples']} tables: {PENDING}."])]


def markdown_section(summary: dict[str, Any], evaluation: dict[str, Any] | None, command: str,
                     settings: dict[str, Any]) -> str:
    """The RESULTS.md section: the paper's online-RL claims next to what this run measured, then the tables."""
    learned = bool(settings.get("alphas")) or settings.get("ablation_alpha") is not None
    pav = (f"prover {settings['prover']} (no Q^pi verifier)" if settings.get("verifier") is None
           else f"{settings['verifier']} with prover {settings['prover']}")
    lines = [f"## Online RL on {settings['task']['name']}: ORM-RL vs PAV-RL", "", f"Command: `{command}`", "",
             f"Seeds {', '.join(map(str, settings['seeds']))}; {settings['iterations']} iterations x "
             f"{settings['problems_per_iteration']} problems x {settings['group_size']} samples, "
             f"lr {settings['lr']:g}; "
             f"held-out accuracy on {settings['eval_problems']} test problems x {settings['eval_samples']} samples; "
             + (f"the arms with a prover also {json.dumps(settings['pav_settings'])}; " if settings.get("pav_settings")
                else "")
             + (f"PAV: {pav}." if learned else "every arm's prover is exact" + (
                 "." if settings.get("verifier") is None else f"; the beam evaluations' PAV: {pav}.")),
             "",
             "| claim | paper | measured here |", "|---|---|---|", *claims(summary, evaluation, settings), "",
             *tables(summary, evaluation, settings)]
    return "\n".join(lines) + "\n"


def run_countdown_rl_study(config: CountdownRLStudyConfig, command: str = "pavlab study rl-countdown") -> Path:
    """Every arm x seed from the start policy with the PAV (`verifier`, `prover`), then the final-policy evaluations.

    Writes rl_countdown.{json,csv,png} and rl_countdown.md under `config.out` once training is done
    (the evaluation pending), then again with the evaluation and rl_countdown_pass_at_n.png (unless
    `evals.skip`); returns the path of rl_countdown.json (settings, arms, curves, the summary with its
    Markdown, the evaluation or null). `workers` processes train the runs, then evaluate the policies.
    """
    started = time.perf_counter()
    alphas, seeds, iterations, evals = tuple(config.alphas), tuple(config.seeds), config.iterations, config.evals
    policy, verifier, prover, task = config.policy or shipped_testbed("subset_sum"), config.verifier, config.prover, \
        config.task
    evals.check()
    bound = None if config.prover_rank is None else ranked_prover(config.prover_rank,
                                                                   config.prover_rank_spec or prover)
    ablation_alpha = config.ablation_alpha if config.ablation else None
    shared = {**SHARED_SETTINGS, "eval_every": min(config.eval_every, iterations), **config.settings}
    if shared.get("threads"):
        torch.set_num_threads(shared["threads"])
    out_dir = Path(config.out)
    # loads the PAV: bad paths fail now, not after training
    evaluator = None if evals.skip else PolicyEvaluator(out_dir / "evals", task, verifier, prover, evals)
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = study_arms(alphas, prover, ablation_alpha, config.oracle_alphas, config.solvers, config.solver_alphas)

    def config_for(arm: RewardArm, seed: int) -> RLConfig:
        pav_only = config.pav_settings if arm.prover is not None else {}
        return RLConfig(task=task, policy=str(policy), verifier=verifier, iterations=iterations, seed=seed,
                        out=out_dir / "runs" / arm.folder / f"seed{seed}", **{**shared, **pav_only}, **arm.overrides())

    runs = run_arms(arms, seeds, config_for, config.workers)
    summary = summarize_arms(arms, runs.curves)
    if bound is not None:
        summary["prover_bound"] = bound
    if any(is_exact_prover(arm.prover) for arm in arms):
        exact_task = get_task(task)
        held_out = exact_task.problems("test", shared["eval_problems"])
        summary["exact_prover_strength"] = exact_prover_strength(exact_task, arms, held_out)
        if config.prover_rank is not None:
            summary["exact_prover_bounds"] = exact_prover_bounds(config.prover_rank, arms)
    for arm in arms:
        summary["arms"][arm.name]["final_response_tokens"] = runs.last_metric(arm.name, "response_tokens")
    record = {**shared, **evals.model_dump(exclude={"skip"}), "iterations": iterations, "seeds": list(seeds),
              "alphas": list(alphas), "oracle_alphas": list(config.oracle_alphas),
              "solvers": list(config.solvers), "solver_alphas": list(config.solver_alphas),
              "ablation_alpha": ablation_alpha,
              "policy": str(policy), "verifier": None if verifier is None else str(verifier), "prover": prover,
              "task": task.model_dump(mode="json"),
              # only when given, so that a study from before the option still finds its earlier evaluation
              **({"pav_settings": config.pav_settings} if config.pav_settings else {})}
    outputs = StudyOutputs(out_dir, command, record, runs, summary, started)
    if evaluator is None:
        outputs.write(earlier_evaluation(out_dir / RL_COUNTDOWN_FILE, record, runs.arms))
    else:
        outputs.write(None)
        outputs.write(evaluate_policies(evaluator, Path(policy), runs, seeds, config.workers))
    return out_dir / RL_COUNTDOWN_FILE


def earlier_evaluation(path: Path, record: dict[str, Any], arms: Sequence[RewardArm]) -> dict[str, Any] | None:
    """The evaluation an earlier run of the same study wrote, kept by a rerun with `--evals.skip true`.

    Its runs resume unchanged (a changed run config is refused), so the same settings and arms mean the same
    final policies; any other study (more seeds, another arm, other evaluation settings) gets none.
    """
    if not path.is_file():
        return None
    earlier = read_json(path)
    settings = json.loads(json.dumps(record, default=str))
    same = earlier.get("settings") == settings and [arm.get("name") for arm in earlier.get("arms", [])] == [
        arm.name for arm in arms]  # with the settings, the names fix the arms
    return earlier.get("evaluation") if same else None


@dataclass
class StudyOutputs:
    """What the study writes: once when training is done (the evaluation pending), again once it is evaluated."""

    out_dir: Path
    command: str
    record: dict[str, Any]
    runs: ArmRuns
    summary: dict[str, Any]
    started: float

    def write(self, evaluation: dict[str, Any] | None) -> None:
        """rl_countdown.{json,md,csv,png}, and with an evaluation rl_countdown_pass_at_n.png."""
        out_dir, runs, summary = self.out_dir, self.runs, self.summary
        summary["markdown"] = markdown_section(summary, evaluation, self.command, self.record)
        summary["wall_seconds_this_run"] = round(time.perf_counter() - self.started, 1)
        write_json(out_dir / RL_COUNTDOWN_FILE, {"settings": self.record, "arms": [asdict(arm) for arm in runs.arms],
                                                 "curves": runs.rows(), "summary": summary, "evaluation": evaluation})
        with atomic_open(out_dir / "rl_countdown.md") as handle:
            handle.write(summary["markdown"])
        write_curves_csv(out_dir / "rl_countdown.csv", runs)
        task = self.record["task"]["name"]
        plot_arm_curves(out_dir / "rl_countdown.png", runs, summary,
                        title=f"{task}: RL from the testbed policy\n{provers_title(runs.arms)}")
        if summary.get("exact_prover_strength"):
            plot_prover_strength(out_dir / "rl_countdown_provers.png", summary, task)
        pass_at_n_figure = out_dir / "rl_countdown_pass_at_n.png"
        if evaluation is not None:
            plot_pass_at_n(pass_at_n_figure, evaluation, runs.arms, task)
        else:  # a figure from an earlier, evaluated run would sit beside a JSON whose evaluation is pending
            pass_at_n_figure.unlink(missing_ok=True)


def provers_title(arms: Sequence[RewardArm]) -> str:
    """The provers the study's arms actually read, for a plot title (the study's own --prover may be unused)."""
    provers = list(dict.fromkeys(short_prover(arm.prover) for arm in arms if arm.prover is not None))
    return f"PAV prover{'s' if len(provers) > 1 else ''} {', '.join(provers)}" if provers else "outcome reward only"


def short_prover(prover: str) -> str:
    """A prover spec short enough for a plot title: `model:` and `policy:` paths keep their last two parts."""
    kind, _, location = prover.partition(":")
    if kind in ("model", "policy") and len(Path(location).parts) > 2:
        return f"{kind}:.../{'/'.join(Path(location).parts[-2:])}"
    return prover


def plot_pass_at_n(path: Path, evaluation: dict[str, Any], arms: Sequence[RewardArm], task: str) -> Path:
    """Pass@N of every final policy (one line per seed) and of the start policy."""
    per_seed = {name: list(curve.get("per_seed", {0: curve["mean"]}).values())
                for name, curve in evaluation["pass_at_n"].items()}
    order = [*(arm.name for arm in arms), START_LABEL]  # the arms first: same colours as in rl_countdown.png
    return plot_seed_curves(path, {name: (evaluation["budgets"], per_seed[name]) for name in order},
                            xlabel="N (samples per problem)", ylabel="Pass@N (held-out test)",
                            title=f"{task}: Pass@N of the start and final RL policies", logx=True)
