"""What every online-RL study shares: reward arms, arm x seed runs, learning curves, sample efficiency, figures.

Why one module: the paper's RL claims (planted and countdown alike) compare learning curves
(held-out accuracy vs samples seen) of reward arms that share every other setting, over several
seeds, and the ratio "samples ORM-RL needs for its best accuracy / samples PAV-RL needs for the
same" must be computed the same way in every study.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from pavlab.io import atomic_open, read_jsonl
from pavlab.rl.config import RLConfig
from pavlab.rl.trainer import RL_METRICS_FILE, run_rl
from pavlab.studies.intervals import percentile_interval
from pavlab.studies.plots import plot_seed_curves
from pavlab.verifiers.progress import RewardKind

CURVE_FIELDS = ("arm", "alpha", "reward", "prover", "iteration_factor", "verifier", "seed", "iteration", "samples",
                "test_accuracy")
Curve = list[dict[str, float]]
ArmCurves = dict[str, dict[int, Curve]]  # arm name -> seed -> evaluated points
MeanCurve = tuple[list[float], list[float]]  # samples, seed-mean held-out accuracy
DrawStatistics = Callable[[dict[str, MeanCurve]], list[float | None]]  # one bootstrap draw's means -> values
STATISTICS = "statistics"  # seed_bootstrap's key, beside the arms', for the intervals of `statistics`
T = TypeVar("T")


@dataclass(frozen=True)
class RewardArm:
    """One reward arm: outcome-only (alpha 0), PAV-RL (advantages under `prover`), or the Q + alpha*Q^mu ablation."""

    name: str
    alpha: float = 0.0
    reward: RewardKind = "advantage"
    prover: str | None = None
    iteration_factor: int = 1  # runs this many times the study's iterations (a long outcome-only reference)

    @property
    def is_pav(self) -> bool:
        """PAV-RL proper (a weight on prover advantages): the arms the sample-efficiency ratio is reported for."""
        return self.alpha != 0.0 and self.reward == "advantage"

    @property
    def folder(self) -> str:
        return self.name.replace(" ", "_")

    def overrides(self) -> dict[str, Any]:
        """The RLConfig fields this arm changes; everything else is shared by all arms."""
        return {"alpha": self.alpha, "reward": self.reward, "prover": self.prover}


@dataclass
class ArmRuns:
    """The finished RL runs of a study: where each arm x seed lives and its curve."""

    arms: list[RewardArm]
    run_dirs: dict[str, dict[int, Path]]
    curves: ArmCurves

    def last_metric(self, arm: str, key: str) -> float:
        """Seed mean of one metric of the runs' last iteration (e.g. response length, where a reward hack shows)."""
        return float(np.mean([read_jsonl(run_dir / RL_METRICS_FILE)[-1][key]
                              for run_dir in self.run_dirs[arm].values()]))

    def rows(self) -> list[dict[str, Any]]:
        """One CSV row per evaluated point of every run."""
        return [{"arm": arm.name, **{k: v for k, v in asdict(arm).items() if k != "name"}, "seed": seed, **point}
                for arm in self.arms for seed, curve in self.curves[arm.name].items() for point in curve]


def arm_curve(run_dir: Path) -> Curve:
    """(iteration, samples, test accuracy) at every evaluated iteration of one RL run."""
    return [{"iteration": row["iteration"], "samples": row["samples_seen"], "test_accuracy": row["test_accuracy"]}
            for row in read_jsonl(run_dir / RL_METRICS_FILE) if "test_accuracy" in row]


def call(job: Callable[[], T]) -> T:
    """Run one job: a module-level function, so a process pool can pickle it."""
    return job()


def run_in_processes(jobs: Sequence[Callable[[], T]], workers: int = 1) -> list[T]:
    """Every job's result, in order: here one after another, or with `workers` > 1 in that many processes.

    Why one helper: the studies' costly units (an RL run, one policy's evaluation) share nothing
    but files on disk, so they fan out to spawned processes with one torch thread each (a job may
    set its own, as `run_rl` does). Jobs must pickle (`functools.partial` of module-level functions).
    """
    if workers <= 1:
        return [job() for job in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=start_worker, initargs=(os.getpid(),)) as pool:
        return list(pool.map(call, jobs))


def start_worker(parent: int) -> None:
    """One torch thread per worker, and a watch on the `parent` pid: a study killed from a shell (SIGKILL, or a
    `pkill` that matches only its command line) would otherwise leave its workers training on, beside the
    next command. A worker whose parent is gone exits; the runs resume from their checkpoints. (The pid is
    passed in, not read here: a parent killed while the worker still imports would otherwise be missed.)"""
    torch.set_num_threads(1)

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()


def run_arms(arms: Sequence[RewardArm], seeds: Sequence[int], config_for: Callable[[RewardArm, int], RLConfig],
             workers: int = 1) -> ArmRuns:
    """Train (or resume: `run_rl` skips finished runs) every arm x seed, seed-major.

    With `workers` > 1 the runs go to that many processes (one torch thread each is what the
    studies set): runs share nothing but the start policy, so on a 2-core machine two at a time
    halve the study's wall time. Seed-major order means an interrupted study has whole seeds.
    """
    jobs = [(arm, seed) for seed in seeds for arm in arms]
    finished = run_in_processes([partial(run_rl, config_for(arm, seed)) for arm, seed in jobs], workers)
    run_dirs: dict[str, dict[int, Path]] = {arm.name: {} for arm in arms}
    curves: ArmCurves = {arm.name: {} for arm in arms}
    for (arm, seed), run_dir in zip(jobs, finished, strict=True):
        run_dirs[arm.name][seed], curves[arm.name][seed] = run_dir, arm_curve(run_dir)
    return ArmRuns(list(arms), {arm.name: dict(sorted(run_dirs[arm.name].items())) for arm in arms},
                   {arm.name: dict(sorted(curves[arm.name].items())) for arm in arms})


def samples_to_reach(samples: Sequence[float], accuracy: Sequence[float], target: float) -> float | None:
    """Samples seen when a (mean) curve first reaches `target`, or None if it never does."""
    return next((s for s, a in zip(samples, accuracy, strict=True) if a >= target - 1e-12), None)


def sample_efficiency(orm: tuple[Sequence[float], Sequence[float]],
                      pav: tuple[Sequence[float], Sequence[float]]) -> dict[str, Any]:
    """Samples ORM-RL needs for its best mean accuracy over the samples PAV-RL needs for the same accuracy.

    `ratio` is None, with the `reason`, when ORM-RL never rises above its start (no finite ratio
    exists) or PAV-RL never gets there. In the first case `lower_bound` is ORM-RL's whole budget
    over the samples after which PAV-RL stays above ORM-RL's best to the end: the ratio is at least
    that. A PAV-RL curve that rises and falls back (ends at or below ORM-RL's best) bounds nothing:
    it has not reached, with its whole budget, an accuracy ORM-RL lacks. A finite ratio of a curve that
    reached ORM-RL's best and ended below it is kept (the paper's definition) and marked `fell_back`.
    """
    best = max(orm[1])
    orm_samples = samples_to_reach(*orm, best)
    pav_samples = samples_to_reach(*pav, best)
    ratio = orm_samples / pav_samples if orm_samples and pav_samples else None
    above = [a > best + 1e-12 for a in pav[1]]
    passed = next((s for i, s in enumerate(pav[0]) if all(above[i:])), None)
    reason = (None if ratio is not None else "PAV-RL never reached ORM-RL's best" if orm_samples
              else "ORM-RL never rose above its start" if passed or not any(above)
              else "ORM-RL never rose above its start; PAV-RL rose above it and fell back")
    lower_bound = orm[0][-1] / passed if not orm_samples and passed else None
    return {"orm_best_accuracy": best, "orm_samples": orm_samples, "pav_samples": pav_samples, "ratio": ratio,
            "reason": reason, "orm_budget": orm[0][-1], "pav_passed_orm_best": passed, "lower_bound": lower_bound,
            "pav_final_accuracy": pav[1][-1], "fell_back": ratio is not None and pav[1][-1] < best - 1e-12}


def ratio_text(efficiency: dict[str, Any]) -> str:
    if efficiency["ratio"] is not None:
        if efficiency.get("fell_back"):  # the paper's ratio, but the arm did not keep what it reached
            return (f"{efficiency['ratio']:.1f}x, then fell back (final {efficiency['pav_final_accuracy']:.1%} "
                    f"< ORM-RL's best {efficiency['orm_best_accuracy']:.1%})")
        return f"{efficiency['ratio']:.1f}x"
    if efficiency.get("lower_bound"):
        return (f"> {efficiency['lower_bound']:.0f}x (ORM-RL never rose above its start in "
                f"{efficiency['orm_budget']:.0f} samples; PAV-RL passed it after "
                f"{efficiency['pav_passed_orm_best']:.0f})")
    return f"n/a ({efficiency['reason']})"


def mean_curve(runs: Sequence[Curve]) -> MeanCurve:
    """Samples and seed-mean accuracy, cut to the shortest run so every point averages all seeds."""
    length = min(len(run) for run in runs)
    return ([runs[0][i]["samples"] for i in range(length)],
            [float(np.mean([run[i]["test_accuracy"] for run in runs])) for i in range(length)])


def seed_bootstrap(arms: Sequence[RewardArm], curves: ArmCurves, reference: str, resamples: int = 2000,
                   seed: int = 0, baseline: str | None = None,
                   statistics: DrawStatistics | None = None) -> dict[str, dict[str, Any]]:
    """95% CIs over seeds, paired (one draw of seeds for every arm): final accuracy, its difference to the
    `baseline` arm (default: `reference`), and each PAV arm's ratio.

    Why paired: every arm's seed s shares the held-out problems and sampling seeds, so drawing the
    same seeds for all arms keeps what they have in common out of the comparison. A resample where
    the ratio is undefined (ORM-RL never rose, or PAV-RL never reached it) is counted, not dropped
    silently: `undefined_share`. `statistics` maps each draw's mean curves ({arm: (samples, accuracy)})
    to more values (None where undefined); their intervals come back, in order, under "statistics" -> "intervals"
    from the same draws.
    """
    if statistics is not None and any(arm.name == STATISTICS for arm in arms):
        raise ValueError(f"an arm named {STATISTICS!r} would clash with the statistics' intervals")
    seeds = sorted(set.intersection(*(set(curves[arm.name]) for arm in arms)))
    rng = np.random.default_rng(seed)
    finals: dict[str, list[float]] = {arm.name: [] for arm in arms}
    ratios: dict[str, list[float]] = {arm.name: [] for arm in arms if arm.is_pav}
    extra: list[list[float]] = []
    for _ in range(resamples):
        drawn = rng.choice(seeds, size=len(seeds), replace=True)
        means = {arm.name: mean_curve([curves[arm.name][s] for s in drawn]) for arm in arms}
        for arm in arms:
            finals[arm.name].append(float(np.mean([curves[arm.name][s][-1]["test_accuracy"] for s in drawn])))
        for name in ratios:
            ratio = sample_efficiency(means[reference], means[name])["ratio"]
            ratios[name].append(float("nan") if ratio is None else ratio)
        if statistics is not None:
            extra.append([float("nan") if value is None else value for value in statistics(means)])
    out: dict[str, dict[str, Any]] = {}
    base = np.array(finals[baseline or reference])
    for arm in arms:
        out[arm.name] = {"final_ci": np.percentile(finals[arm.name], [2.5, 97.5]).tolist(),
                         "gain_ci": np.percentile(np.array(finals[arm.name]) - base, [2.5, 97.5]).tolist()}
        if arm.name in ratios:
            out[arm.name]["ratio_ci"], out[arm.name]["undefined_share"] = percentile_interval(ratios[arm.name])
    if statistics is not None:
        intervals = [percentile_interval(column) for column in np.array(extra).T.tolist()]
        out[STATISTICS] = {"intervals": [{"ci": ci, "undefined_share": share} for ci, share in intervals]}
    return out


def summarize_arms(arms: Sequence[RewardArm], curves: ArmCurves, resamples: int = 2000) -> dict[str, Any]:
    """Per-arm start/final accuracy over seeds and, for every PAV arm, the sample-efficiency ratio to ORM-RL.

    The ratio is taken against the longest outcome-only arm: when ORM-RL barely moves in the
    study's budget, only a longer ORM-RL run says how many samples it needs. Mean curves are cut
    to the shortest run, so every point averages all seeds. Each arm's `final_ci`, its
    `final_gain_vs_orm` (difference to the first outcome-only arm of the study's own length, with
    `final_gain_ci`) and each PAV arm's `sample_efficiency_vs_orm` (ratio, CI) come from a paired
    bootstrap over seeds.
    """
    per_arm: dict[str, Any] = {}
    means: dict[str, MeanCurve] = {}
    for arm in arms:
        runs = list(curves[arm.name].values())
        finals = {seed: run[-1]["test_accuracy"] for seed, run in curves[arm.name].items()}
        means[arm.name] = mean_curve(runs)
        per_arm[arm.name] = {"alpha": arm.alpha, "reward": arm.reward, "prover": arm.prover, "seeds": len(runs),
                             "start_accuracy": float(np.mean([run[0]["test_accuracy"] for run in runs])),
                             "final_accuracy": float(np.mean(list(finals.values()))),
                             "final_min": min(finals.values()), "final_max": max(finals.values()),
                             "final_per_seed": finals,
                             "best_mean_accuracy": max(means[arm.name][1]), "samples": means[arm.name][0][-1]}
    reference = max((arm for arm in arms if arm.alpha == 0.0), key=lambda arm: arm.iteration_factor)
    efficiency = {arm.name: sample_efficiency(means[reference.name], means[arm.name]) for arm in arms if arm.is_pav}
    baseline = next(arm for arm in arms if arm.alpha == 0.0 and arm.iteration_factor == 1)
    intervals = seed_bootstrap(arms, curves, reference.name, resamples, baseline=baseline.name)
    for arm in arms:
        per_arm[arm.name]["final_ci"] = intervals[arm.name]["final_ci"]
        per_arm[arm.name]["final_gain_vs_orm"] = (per_arm[arm.name]["final_accuracy"]
                                                  - per_arm[baseline.name]["final_accuracy"])
        per_arm[arm.name]["final_gain_ci"] = intervals[arm.name]["gain_ci"]
        if arm.is_pav:
            per_arm[arm.name]["sample_efficiency_vs_orm"] = {
                "ratio": efficiency[arm.name]["ratio"], "lower_bound": efficiency[arm.name]["lower_bound"],
                "ci": intervals[arm.name]["ratio_ci"], "undefined_share": intervals[arm.name]["undefined_share"]}
    return {"arms": per_arm, "sample_efficiency": efficiency, "efficiency_reference": reference.name,
            "mean_curves": means}


def write_curves_csv(path: Path, runs: ArmRuns) -> None:
    with atomic_open(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(runs.rows())


def plot_arm_curves(path: Path, runs: ArmRuns, summary: dict[str, Any], title: str) -> Path:
    """Held-out accuracy vs samples seen: the seed mean of every arm with its min-max band.

    With a long arm (10x the samples) x is on a log scale, from the first evaluation after the start.
    """
    logx = any(arm.iteration_factor > 1 for arm in runs.arms)
    first = 1 if logx else 0  # the start (0 samples) has no place on a log axis
    curves = {}
    for arm in runs.arms:
        x = summary["mean_curves"][arm.name][0]
        ys = [[p["test_accuracy"] for p in run][first:len(x)] for run in runs.curves[arm.name].values()]
        curves[arm.name] = (x[first:], ys)
    return plot_seed_curves(path, curves, xlabel="samples seen", ylabel="held-out test accuracy", title=title,
                            logx=logx)
