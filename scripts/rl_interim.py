"""Read an unfinished `pavlab study rl-countdown` folder: held-out accuracy of the seeds every arm has finished.

Why: the study writes its summary (final CIs, sample efficiency, Pass@N) only once every run and
evaluation is done; a multi-hour study is worth reading after each whole seed. Usage:
`python scripts/rl_interim.py runs/ss/rl` prints, per arm, the seed-mean accuracy at each evaluation,
the final difference vs ORM-RL with a paired bootstrap CI over seeds, the difference at the first
evaluation after the start, and each seed's final accuracy; then Pass@N (N = 1..256) of every final
policy whose evaluation is cached under evals/, with each arm's difference to ORM-RL (paired bootstrap
over the seeds both have).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def finished_curves(study: Path) -> dict[str, dict[int, dict[int, float]]]:
    """{arm folder: {seed: {iteration: test accuracy}}} of the runs whose last evaluation is written."""
    curves: dict[str, dict[int, dict[int, float]]] = defaultdict(dict)
    for path in sorted(study.glob("runs/*/seed*/metrics.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        evals = {row["iteration"]: row["test_accuracy"] for row in rows if "test_accuracy" in row}
        config = json.loads((path.parent / "rl_run.json").read_text())["config"]
        if config["iterations"] in evals:
            curves[path.parent.parent.name][int(path.parent.name.removeprefix("seed"))] = evals
    return curves


def main(study: Path) -> None:
    curves = finished_curves(study)
    seeds = sorted(set.intersection(*(set(runs) for runs in curves.values())))
    orm = curves["ORM-RL"]
    rng = np.random.default_rng(0)
    print(f"seeds finished by every arm: {seeds}")
    for arm, runs in sorted(curves.items()):
        iterations = sorted(runs[seeds[0]])
        # differences at iterations ORM-RL also has (a long reference arm, e.g. ORM-RL x10, runs past them)
        shared = [i for i in iterations if i in orm[seeds[0]]]
        last, first = shared[-1], shared[1]
        mean = " | ".join(f"{100 * np.mean([runs[s][i] for s in seeds]):.1f}%" for i in iterations)
        line = f"| {arm} | {mean}"
        if arm != "ORM-RL":
            diff = 100 * np.array([runs[s][last] - orm[s][last] for s in seeds])
            boot = [rng.choice(diff, len(diff)).mean() for _ in range(4000)]
            early = np.mean([100 * (runs[s][first] - orm[s][first]) for s in seeds])
            line += (f" | {diff.mean():+.1f} [{np.percentile(boot, 2.5):+.1f}, {np.percentile(boot, 97.5):+.1f}]"
                     f" | {early:+.1f}")
        print(line + " | " + ", ".join(f"{100 * runs[s][last]:.1f}" for s in seeds) + " |")


def cached_pass_at_n(study: Path, budgets: list[int], problems: int = 128) -> dict[str, dict[int, np.ndarray]]:
    """{arm folder or 'start': {seed: Pass@N curve}} from the evaluation's per-policy count caches."""
    from pavlab.studies.policy_evals import pass_at_n_curve

    curves: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for path in sorted(study.glob("evals/counts-*.json")):
        label = path.stem.removeprefix("counts-")
        arm, _, seed = label.rpartition("-seed")
        cached = json.loads(path.read_text())
        counts = cached["result"][:problems]
        curves[arm or label][int(seed) if arm else 0] = np.array(
            pass_at_n_curve(counts, cached["key"]["samples"], budgets))
    return curves


def evaluated_pass_at_n(study: Path) -> dict[str, dict[int, np.ndarray]] | None:
    """{arm or 'start': {seed: Pass@N curve}} from the study's written evaluation; None while it is pending."""
    path = study / "rl_countdown.json"
    evaluation = json.loads(path.read_text())["evaluation"] if path.is_file() else None
    if evaluation is None:
        return None
    return {name: {int(seed): np.array(curve) for seed, curve in row.get("per_seed", {0: row["mean"]}).items()}
            for name, row in evaluation["pass_at_n"].items()}


def print_pass_at_n(study: Path) -> None:
    budgets = [2 ** i for i in range(9)]
    curves = evaluated_pass_at_n(study) or cached_pass_at_n(study, budgets)
    if "ORM-RL" not in curves:
        return
    rng = np.random.default_rng(0)
    print("\nPass@N, N = " + ", ".join(map(str, budgets)) + " (seed mean; vs ORM-RL: paired bootstrap over seeds)")
    for arm, runs in sorted(curves.items()):
        mean = np.mean(list(runs.values()), axis=0)
        print(f"| {arm} ({len(runs)} seeds) | " + " | ".join(f"{100 * v:.1f}%" for v in mean))
        shared = sorted(set(runs) & set(curves["ORM-RL"]))
        if arm in ("ORM-RL", "start") or not shared:
            continue
        diff = np.array([runs[s] - curves["ORM-RL"][s] for s in shared])
        boot = np.array([diff[rng.integers(0, len(diff), len(diff))].mean(0) for _ in range(4000)])
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        cells = zip(diff.mean(axis=0), low, high, strict=True)
        print(f"|   vs ORM-RL ({len(shared)} seeds) | "
              + " | ".join(f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" for d, lo, hi in cells))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    print_pass_at_n(Path(sys.argv[1]))
