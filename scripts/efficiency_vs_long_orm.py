"""Sample efficiency of RL arms against a longer ORM-RL run: the paper's ratio needs ORM-RL's plateau.

Why: a study's ORM-RL stops at the same budget as its PAV arms, so when it is still rising its best is
its last evaluation and the ratio says only how early PAV-RL passed it. This reads finished `pavlab rl`
runs (`DIR/seed*/metrics.jsonl`), one folder of longer ORM-RL seeds and any number of arm folders, and
prints each arm's seed-mean held-out curve and the paper's ratio (samples ORM-RL needs for its best mean
over the samples the arm needs to reach it; `studies.rl_curves.sample_efficiency`), with the ratio, final
accuracy, KL and length of every seed against the ORM-RL seed of the same number, and the ratio at fixed
fractions of ORM-RL's best gain over its start (how the ratio changes with the level asked, e.g. when both
arms plateau at one level and the paper's ratio is undefined); `--json OUT` also writes the curves and
ratios, `--plot OUT.png` draws every arm's held-out curve (seed mean, min-max band) over ORM-RL's. With at
least MIN_CI_SEEDS seeds shared with ORM-RL it adds 95% paired-bootstrap CIs over seeds (`seed_bootstrap`):
the arm's final accuracy, its difference to ORM-RL's final, the paper's ratio and the ratio at each level.
Usage: `python scripts/efficiency_vs_long_orm.py [--json OUT] [--plot OUT.png] runs/cov/rl-orm-loo-600 ARM ...`
(the ORM-RL folder may be such a JSON output: `docs/results/rl_countdown_coverage_orm_600.json`, or several
sources joined by commas whose seeds are merged, e.g. seeds 0-2 from a JSON and 3-5 from a folder run later:
`docs/results/rl_countdown_coverage_orm_600.json,runs/n/rl-orm-loo-600`)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pavlab.io import read_jsonl
from pavlab.rl.trainer import RL_METRICS_FILE
from pavlab.studies.plots import plot_seed_curves
from pavlab.studies.rl_curves import (
    STATISTICS,
    Curve,
    MeanCurve,
    RewardArm,
    arm_curve,
    mean_curve,
    ratio_text,
    sample_efficiency,
    samples_to_reach,
    seed_bootstrap,
)

LEVELS = (0.25, 0.5, 0.75, 0.9, 1.0)  # fractions of ORM-RL's best seed-mean gain over its start
MIN_CI_SEEDS = 6  # the seeds per arm issue 16 asks for; a percentile interval over 3 seeds means little
RESAMPLES = 2000


def seed_curves(folder: Path) -> dict[int, Curve]:
    """{seed: evaluated points} of every run under `folder` (`folder/seed*`), or the ORM-RL curves an earlier
    `--json` output recorded (`folder` is that file: compare new arms with a plateau run no longer on disk)."""
    if folder.suffix == ".json":
        return {int(seed): curve for seed, curve in json.loads(folder.read_text())["orm_curves"].items()}
    runs = [run for run in sorted(folder.glob("seed*")) if run.is_dir()]  # not a runner's seedN.log beside them
    curves = {int(run.name.removeprefix("seed")): arm_curve(run) for run in runs}
    if not curves:
        raise SystemExit(f"{folder}: no seed* runs")
    return curves


def merged_seed_curves(spec: str) -> tuple[dict[int, Curve], dict[int, Path]]:
    """The curves of every source in the comma-separated `spec` (folders or `--json` outputs) and the source
    each seed came from; a seed in two sources is an error, not a silent overwrite."""
    curves: dict[int, Curve] = {}
    sources: dict[int, Path] = {}
    for source in map(Path, spec.split(",")):
        for seed, curve in seed_curves(source).items():
            if seed in curves:
                raise SystemExit(f"{source}: seed {seed} is also in {sources[seed]}")
            curves[seed], sources[seed] = curve, source
    return curves, sources


def ratios_by_level(orm: MeanCurve, arm: MeanCurve) -> list[dict]:
    """At each of LEVELS: the accuracy, the samples each curve needs to reach it, and their ratio (None where
    the arm never gets there)."""
    start, best = orm[1][0], max(orm[1])
    rows = []
    for level in LEVELS:
        target = start + level * (best - start)
        orm_samples, arm_samples = samples_to_reach(*orm, target), samples_to_reach(*arm, target)
        rows.append({"level": level, "accuracy": target, "orm_samples": orm_samples, "arm_samples": arm_samples,
                     "ratio": orm_samples / arm_samples if orm_samples and arm_samples else None})
    return rows


def paired_intervals(orm: dict[int, Curve], arm: dict[int, Curve], seeds: list[int]) -> dict | None:
    """95% CIs from one paired bootstrap over `seeds` (each draw takes the same seeds for both arms, which share
    held-out problems and sampling seeds): `seed_bootstrap`'s final, difference and paper's-ratio intervals,
    and the ratio at each of LEVELS (the share of draws where it is undefined, the arm never reaching the
    level, beside it). None below MIN_CI_SEEDS seeds."""
    if len(seeds) < MIN_CI_SEEDS:
        return None
    curves = {"ORM-RL": {s: orm[s] for s in seeds}, "arm": {s: arm[s] for s in seeds}}
    arms = [RewardArm("ORM-RL"), RewardArm("arm", alpha=1.0)]  # a non-zero alpha marks the arm whose ratio is drawn

    def level_ratios(means: dict[str, MeanCurve]) -> list[float | None]:
        return [row["ratio"] for row in ratios_by_level(means["ORM-RL"], means["arm"])]

    intervals = seed_bootstrap(arms, curves, "ORM-RL", RESAMPLES, statistics=level_ratios)
    by_level = [{"level": level, "ratio_ci": interval["ci"], "undefined_share": interval["undefined_share"]}
                for level, interval in zip(LEVELS, intervals[STATISTICS]["intervals"], strict=True)]
    return {"seeds": seeds, **intervals["arm"], "by_level": by_level}


def interval_text(ci: list[float] | None, scale: float = 1.0, unit: str = "", sign: str = "") -> str:
    return ("undefined in every draw" if ci is None
            else f"[{ci[0] * scale:{sign}.1f}, {ci[1] * scale:{sign}.1f}]{unit}")


def intervals_text(intervals: dict | None, seeds: int) -> str:
    if intervals is None:
        return f"no CIs: {seeds} seeds shared with ORM-RL, {MIN_CI_SEEDS} needed"
    levels = ", ".join(f"{row['level']:.0%}: {interval_text(row['ratio_ci'], unit='x')} "
                       f"(undefined {row['undefined_share']:.0%})" for row in intervals["by_level"])
    return (f"95% paired bootstrap over {seeds} seeds: final {interval_text(intervals['final_ci'], 100, '%')}, "
            f"difference to ORM-RL {interval_text(intervals['gain_ci'], 100, ' points', '+')}, paper's ratio "
            f"{interval_text(intervals['ratio_ci'], unit='x')} (undefined {intervals['undefined_share']:.0%}); "
            f"ratio by level {levels}")


def end_of_run(folder: Path, seed: int) -> str:
    """KL to the start and response tokens, each the mean of the run's last 10 iterations (where a reward hack
    shows), or nothing for curves read from an earlier `--json` output."""
    if folder.suffix == ".json":
        return ""
    rows = [row for row in read_jsonl(folder / f"seed{seed}" / RL_METRICS_FILE) if "kl" in row][-10:]
    return (f"; KL {sum(row['kl'] for row in rows) / len(rows):.2f}, "
            f"{sum(row['response_tokens'] for row in rows) / len(rows):.0f} tokens (last 10 iterations)")


def seed_band(curves: dict[int, Curve]) -> tuple[list[float], list[list[float]]]:
    """Samples and every seed's held-out accuracy, cut to the shortest run as `mean_curve` cuts them (what
    `plot_seed_curves` draws)."""
    samples, _ = mean_curve(list(curves.values()))
    return samples, [[point["test_accuracy"] for point in curve[:len(samples)]] for curve in curves.values()]


def main(orm_spec: str, arm_folders: list[Path], out: Path | None, plot: Path | None) -> None:
    orm, orm_sources = merged_seed_curves(orm_spec)
    summary: dict = {"orm": orm_spec, "orm_curves": orm, "arms": {}}
    for seed, curve in sorted(orm.items()):
        print(f"ORM-RL seed {seed}: final {curve[-1]['test_accuracy']:.1%}{end_of_run(orm_sources[seed], seed)}")
    for folder in arm_folders:
        arm = seed_curves(folder)
        seeds = sorted(set(orm) & set(arm))
        samples, accuracy = mean_curve([arm[s] for s in seeds])
        reference = mean_curve([orm[s] for s in seeds])
        print(f"{folder} (seeds {seeds}): " + ", ".join(f"{x:.0f}: {a:.1%}" for x, a in zip(samples, accuracy,
                                                                                           strict=True)))
        print(f"  ORM-RL ({orm_spec}): " + ", ".join(f"{x:.0f}: {a:.1%}" for x, a in zip(*reference, strict=True)))
        mean = sample_efficiency(reference, (samples, accuracy))
        print(f"  seed mean: {ratio_text(mean)}")
        per_seed = {seed: sample_efficiency(mean_curve([orm[seed]]), mean_curve([arm[seed]])) for seed in seeds}
        for seed, efficiency in per_seed.items():
            end, orm_end = arm[seed][-1]["test_accuracy"], orm[seed][-1]["test_accuracy"]
            print(f"  seed {seed}: {ratio_text(efficiency)}; final {end:.1%} vs ORM-RL {orm_end:.1%} "
                  f"({(end - orm_end) * 100:+.1f} points){end_of_run(folder, seed)}")
        by_level = ratios_by_level(reference, (samples, accuracy))
        print("  by level of ORM-RL's best gain: " + ", ".join(
            f"{row['level']:.0%} ({row['accuracy']:.1%}): "
            + (f"{row['ratio']:.1f}x" if row["ratio"] else "never") for row in by_level))
        intervals = paired_intervals(orm, arm, seeds)
        print(f"  {intervals_text(intervals, len(seeds))}")
        summary["arms"][str(folder)] = {"curves": arm, "seed_mean": mean, "per_seed": per_seed, "by_level": by_level,
                                        "intervals": intervals}
    if out is not None:
        out.write_text(json.dumps(summary, indent=1) + "\n")
    if plot is not None:
        bands = {"ORM-RL: " + "+".join(Path(source).stem for source in orm_spec.split(",")): seed_band(orm)}
        bands |= {folder.replace("/runs/", "/").removeprefix("runs/"): seed_band(arm["curves"])
                  for folder, arm in summary["arms"].items()}  # runs/s/rl-x/runs/ARM -> s/rl-x/ARM
        plot_seed_curves(plot, bands, xlabel="samples seen", ylabel="held-out accuracy",
                         title="RL arms against a longer ORM-RL run")


if __name__ == "__main__":
    args = sys.argv[1:]
    options = {flag: Path(args.pop(args.index(flag) + 1)) for flag in ("--json", "--plot") if flag in args}
    args = [arg for arg in args if arg not in options]
    if len(args) < 2:
        raise SystemExit(__doc__)
    main(args[0], [Path(arg) for arg in args[1:]], options.get("--json"), options.get("--plot"))
