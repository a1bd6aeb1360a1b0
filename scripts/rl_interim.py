"""Read an unfinished `pavlab study rl-countdown` folder: held-out accuracy of the seeds every arm has finished.

Why: the study writes its summary (final CIs, sample efficiency, Pass@N) only once every run and evaluation is
done; a multi-hour study is worth reading after each whole seed. Usage: `python scripts/rl_interim.py
runs/ss/rl [--vs ARM_FOLDER] [--json OUT]` prints, per arm, the seed-mean accuracy at each evaluation, the
final difference vs ORM-RL with a paired bootstrap CI over seeds, the difference at the first evaluation after
the start, and each seed's final accuracy; then Pass@N (N = 1..256) of every final policy whose evaluation is
cached under evals/, with each arm's difference to ORM-RL (paired bootstrap over the seeds both have); then
each arm's KL to the start and response tokens (mean of its last 10 iterations, range over seeds) and the beam
search's solved problems beyond best-of-N per arm with the difference to ORM-RL (from the written evaluation,
else the beam caches under evals/). `--vs ARM_FOLDER` adds each arm's final difference to that arm (e.g.
PAV-RL against its `Q + alpha*Q^mu` ablation), paired over seeds. `--json OUT` also writes the `--vs`
differences and the Pass@N and beam tables with their CIs. A folder of linked runs and copied caches compares
arms from different studies (e.g. a PAV arm against a longer ORM-RL).
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


def paired_interval(diff: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) of per-seed differences and its 95% paired-bootstrap interval (4000 draws)."""
    boot = np.array([diff[rng.integers(0, len(diff), len(diff))].mean(0) for _ in range(4000)])
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    return diff.mean(axis=0), low, high


def paired_ci(diff: np.ndarray, rng: np.random.Generator) -> str:
    """Mean of per-seed differences with a 95% paired-bootstrap CI, as '+x.x [+lo, +hi]'."""
    mean, low, high = paired_interval(diff, rng)
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def main(study: Path, versus: str | None = None) -> dict[str, dict[str, object]]:
    """Print the curves table (and, with `versus`, each arm's final difference to it); returns those differences."""
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
            early = np.mean([100 * (runs[s][first] - orm[s][first]) for s in seeds])
            line += f" | {paired_ci(diff, rng)} | {early:+.1f}"
        print(line + " | " + ", ".join(f"{100 * runs[s][last]:.1f}" for s in seeds) + " |")
    differences: dict[str, dict[str, object]] = {}
    for arm, runs in sorted(curves.items()) if versus is not None else ():
        if arm not in (versus, "ORM-RL"):
            last = max(runs[seeds[0]])
            diff = 100 * np.array([runs[s][last] - curves[versus][s][last] for s in seeds])
            mean, low, high = paired_interval(diff, rng)
            differences[arm] = {"versus": versus, "seeds": seeds, "points": float(mean),
                                "ci": [float(low), float(high)], "per_seed": diff.tolist()}
            print(f"{arm} vs {versus}, final (paired over seeds {seeds}): {mean:+.1f} [{low:+.1f}, {high:+.1f}]; "
                  "per seed " + ", ".join(f"{d:+.1f}" for d in diff))
    return differences


def print_run_health(study: Path) -> None:
    """KL to the start and response tokens per arm: the mean of each run's last 10 iterations, range over seeds."""
    print("\nKL to start / response tokens, last 10 iterations (range over seeds; longest batch mean in any iteration)")
    for arm in sorted({path.parent.parent.name for path in study.glob("runs/*/seed*/metrics.jsonl")}):
        rows = [[json.loads(line) for line in path.read_text().splitlines() if '"kl"' in line]
                for path in sorted(study.glob(f"runs/{arm}/seed*/metrics.jsonl"))]
        kl = [np.mean([row["kl"] for row in run[-10:]]) for run in rows]
        tokens = [np.mean([row["response_tokens"] for row in run[-10:]]) for run in rows]
        longest = max(row["response_tokens"] for run in rows for row in run)
        print(f"| {arm} | {min(kl):.2f}-{max(kl):.2f} | {min(tokens):.0f}-{max(tokens):.0f} (longest {longest:.1f}) |")


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


def cached_beams(study: Path) -> tuple[dict[str, dict[str, dict[str, list[int]]]], list[str]]:
    """{arm or 'start': {width: {'picked': [per seed], 'any': [per seed]}}} from the per-policy beam caches, and
    the problems they searched (the start's failures at best-of-N, as each cache's key records them)."""
    cells: dict[str, dict[str, dict[int, tuple[int, int]]]] = defaultdict(lambda: defaultdict(dict))
    hard: list[str] = []
    for path in sorted(study.glob("evals/beam-*-n*.json")):
        label, _, width = path.stem.removeprefix("beam-").rpartition("-n")
        arm, _, seed = label.rpartition("-seed")
        cached = json.loads(path.read_text())
        result, hard = cached["result"], cached["key"]["hard"]
        cells[arm][width][int(seed)] = (sum(r["correct"] for r in result), sum(r["pass_at_n"] for r in result))
    return ({arm: {width: {"picked": [by_seed[s][0] for s in sorted(by_seed)],
                           "any": [by_seed[s][1] for s in sorted(by_seed)]} for width, by_seed in widths.items()}
             for arm, widths in cells.items()}, hard)


def pass_at_n_table(study: Path, budgets: list[int]) -> dict[str, dict[str, object]]:
    """Per arm: seeds, seed-mean Pass@N and, against ORM-RL, the paired difference with its 95% CI per N."""
    curves = evaluated_pass_at_n(study) or cached_pass_at_n(study, budgets)
    if "ORM-RL" not in curves:
        return {}
    rng = np.random.default_rng(0)
    table: dict[str, dict[str, object]] = {}
    for arm, runs in sorted(curves.items()):
        row: dict[str, object] = {"seeds": sorted(runs), "mean": np.mean(list(runs.values()), axis=0).tolist()}
        shared = sorted(set(runs) & set(curves["ORM-RL"]))
        if arm not in ("ORM-RL", "start") and shared:
            diff, low, high = paired_interval(np.array([runs[s] - curves["ORM-RL"][s] for s in shared]), rng)
            row["vs_orm"] = {"seeds": shared, "difference": diff.tolist(), "ci": [low.tolist(), high.tolist()]}
        table[arm] = row
    return table


def beam_table(study: Path) -> dict[str, object]:
    """Problems the start fails at best-of-N that each policy's PAV beam solves (picked / any final beam),
    with each arm's paired difference to ORM-RL; from the written evaluation, else the per-policy caches."""
    path = study / "rl_countdown.json"
    evaluation = json.loads(path.read_text())["evaluation"] if path.is_file() else None
    beams, hard = ((evaluation["beam"], evaluation["hard"]) if evaluation and evaluation.get("beam")
                   else cached_beams(study))
    if not beams:
        return {}
    rng = np.random.default_rng(0)
    orm = beams.get("ORM-RL", {})
    rows: dict[str, dict[str, object]] = {}
    for arm, cells in beams.items():
        for width, cell in cells.items():
            picked, found = np.array(cell["picked"], float), np.array(cell["any"], float)
            row: dict[str, object] = {"picked": cell["picked"], "any": cell["any"]}
            if arm not in ("ORM-RL", "start") and width in orm and len(orm[width]["picked"]) == len(picked):
                for key, values in (("picked", picked), ("any", found)):
                    diff, low, high = paired_interval(values - np.array(orm[width][key], float), rng)
                    row[f"{key}_vs_orm"] = {"difference": float(diff), "ci": [float(low), float(high)]}
            rows.setdefault(arm, {})[width] = row
    return {"problems": len(hard), "rows": rows}


def print_pass_at_n(table: dict[str, dict[str, object]], budgets: list[int]) -> None:
    if not table:
        return
    print("\nPass@N, N = " + ", ".join(map(str, budgets)) + " (seed mean; vs ORM-RL: paired bootstrap over seeds)")
    for arm, row in table.items():
        print(f"| {arm} ({len(row['seeds'])} seeds) | " + " | ".join(f"{100 * v:.1f}%" for v in row["mean"]))
        if "vs_orm" in row:
            versus = row["vs_orm"]
            cells = zip(versus["difference"], *versus["ci"], strict=True)
            print(f"|   vs ORM-RL ({len(versus['seeds'])} seeds) | "
                  + " | ".join(f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" for d, lo, hi in cells))


def print_beams(table: dict[str, object]) -> None:
    if not table:
        return
    print(f"\nBeyond best-of-N: of {table['problems']} problems, solved per seed "
          "(picked / any final beam)")
    for arm, widths in table["rows"].items():
        for width, row in widths.items():
            line = f"| {arm} | N = {width} | {np.mean(row['picked']):.1f} ({np.mean(row['any']):.1f}) |"
            if "picked_vs_orm" in row:
                versus = row["picked_vs_orm"]
                line += f" vs ORM-RL {versus['difference']:+.1f} [{versus['ci'][0]:+.1f}, {versus['ci'][1]:+.1f}] |"
            print(line)


if __name__ == "__main__":
    args = sys.argv[1:]
    vs = args.pop(args.index("--vs") + 1) if "--vs" in args else None
    out = Path(args.pop(args.index("--json") + 1)) if "--json" in args else None
    study_dir = Path(args[0])
    versus_table = main(study_dir, vs)
    pass_budgets = [2 ** i for i in range(9)]
    pass_table, beams_table = pass_at_n_table(study_dir, pass_budgets), beam_table(study_dir)
    print_pass_at_n(pass_table, pass_budgets)
    print_run_health(study_dir)
    print_beams(beams_table)
    if out is not None:
        out.write_text(json.dumps({"study": str(study_dir), "final_vs": versus_table, "budgets": pass_budgets,
                                   "pass_at_n": pass_table, "beams": beams_table}, indent=1) + "\n")
