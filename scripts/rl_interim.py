"""Read an unfinished `pavlab study rl-countdown` folder: held-out accuracy of the seeds every arm has finished.

Why: the study writes its summary (final CIs, sample efficiency, Pass@N) only once every run and
evaluation is done; a multi-hour study is worth reading after each whole seed. Usage:
`python scripts/rl_interim.py runs/ss/rl` prints, per arm, the seed-mean accuracy at each evaluation,
the final difference vs ORM-RL with a paired bootstrap CI over seeds, the difference at the first
evaluation after the start, and each seed's final accuracy.
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
        last, first = iterations[-1], iterations[1]
        mean = " | ".join(f"{100 * np.mean([runs[s][i] for s in seeds]):.1f}%" for i in iterations)
        line = f"| {arm} | {mean}"
        if arm != "ORM-RL":
            diff = 100 * np.array([runs[s][last] - orm[s][last] for s in seeds])
            boot = [rng.choice(diff, len(diff)).mean() for _ in range(4000)]
            early = np.mean([100 * (runs[s][first] - orm[s][first]) for s in seeds])
            line += (f" | {diff.mean():+.1f} [{np.percentile(boot, 2.5):+.1f}, {np.percentile(boot, 97.5):+.1f}]"
                     f" | {early:+.1f}")
        print(line + " | " + ", ".join(f"{100 * runs[s][last]:.1f}" for s in seeds) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
