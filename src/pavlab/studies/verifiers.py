"""The verifier study (issue 15): ORM, Q^pi PRM and PAV trained on growing label sets, held-out metrics.

Why a study: whether a learned PAV can help search depends first on whether the verifier ranks
outcomes and finds dead ends at all, and on how that scales with labels (the paper trains on
300k labeled prefixes). Each size takes the first label rows (whole problems) until it holds that
many labeled prefixes, trains an ORM and a Q^pi PRM on them from the policy's weights, and
evaluates both on held-out labeled responses: outcome AUC with a bootstrap CI, dead-end AUC
against the task's exact oracle, ECE. The PAV is either a third verifier trained on its prover's
values (`pav_target_bok` K: unbiased Best-of-K targets from the same rollout counts; these rank dead
ends better, RESULTS.md section 2) or, without it, the PRM read as the Q of a Best-of-K prover (the
paper's construction; its AUCs are the PRM's, a monotone transform). Either way its ECE is against
unbiased Best-of-K labels, and the PRM-read PAV is reported as `pav_from_prm`. Output in OUT: one
folder per (kind, size), `verifiers.json` and `verifier_scaling.png`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from pavlab.config import Config
from pavlab.io import iter_jsonl, read_json, write_json, write_jsonl
from pavlab.labeling.format import label_files, resolve_label_paths
from pavlab.runs import prepare_run
from pavlab.verifiers.evaluate import EVAL_METRICS_FILE, EvalVerifierConfig, run_eval_verifier
from pavlab.verifiers.train import VerifierTrainConfig, train_verifier

KIND = "verifiers"


class VerifierStudyConfig(Config):
    task: Literal["countdown", "subset_sum"] = Field("subset_sum", description="task with an exact prefix oracle")
    init: str = Field(..., description="policy checkpoint the verifiers start from")
    labels: list[str] = Field(..., description="training label runs (pavlab label output folders or files)")
    val_labels: list[str] = Field(..., description="held-out label runs (another split)")
    sizes: list[int] = Field([5000, 20000, 100000], min_length=1, description="labeled prefixes per training set")
    prover: str = Field("bok:4", description="Best-of-K prover the PRM is read as (`pav_from_prm`)")
    pav_target_bok: int | None = Field(None, ge=1, description="also train a PAV on unbiased Best-of-K targets "
                                       "(it is then the `pav` row); without it `pav` is the PRM read as `prover`")
    steps: int = Field(2000, ge=1, description="most optimizer steps per verifier")
    epochs: float = Field(4.0, gt=0, description="fewer steps for small sets: at most this many passes")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-4, gt=0)
    seed: int = 0
    out: Path = Field(..., description="study folder (rerun to resume)")


def mc_prefixes(row: dict[str, Any]) -> set[tuple[str, tuple[str, ...]]]:
    """The distinct (problem, prefix) states of a row labeled by Monte Carlo rollouts (the paper's
    "(prefix, Q_hat) pairs"): not the exact terminal outcome, and counted once however many seed
    rows share the state (the bare prompt, a first-pit seed's copied parent prefix)."""
    rollouts = row.get("n_rollouts") or [2] * len(row["q_hat"])
    return {(row["problem_id"], tuple(row["steps"][:h])) for h, (q, n) in enumerate(zip(row["q_hat"], rollouts,
                                                                                         strict=True))
            if q is not None and n is not None and n > 1 and h < len(row["steps"])}


def take_rows(paths: list[Path], size: int) -> tuple[list[dict[str, Any]], int]:
    """The first label rows, whole problems at a time, until they hold `size` MC-labeled prefixes (or all rows)."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for path in label_files(paths):
        for _, row in iter_jsonl(path):
            if len(seen) >= size and row["problem_id"] != rows[-1]["problem_id"]:
                return rows, len(seen)
            rows.append(row)
            seen |= mc_prefixes(row)
    return rows, len(seen)


def _train_and_eval(config: VerifierStudyConfig, kind: str, subset: Path, folder: Path, steps: int) -> dict[str, Any]:
    if not (folder / "model" / "verifier.json").exists():
        bok = config.pav_target_bok if kind == "pav" else None
        train_verifier(VerifierTrainConfig(kind=kind, init=config.init, steps=steps, batch_size=config.batch_size,
                                           lr=config.lr, warmup=max(1, steps // 10), seed=config.seed,
                                           prover=config.prover if kind == "prm" else None, target_bok=bok,
                                           device="cpu"),
                       [subset], folder / "model")
    return _evaluate(config, folder / "model", folder / "eval", None)


def _evaluate(config: VerifierStudyConfig, model: Path, out: Path, as_prover: str | None) -> dict[str, Any]:
    if (out / EVAL_METRICS_FILE).exists():
        return read_json(out / EVAL_METRICS_FILE)
    return read_json(run_eval_verifier(EvalVerifierConfig(verifier=str(model), labels=config.val_labels,
                                                          task=config.task, as_prover=as_prover, out=out)))


def row_of(metrics: dict[str, Any], labeled: int) -> dict[str, Any]:
    """The fields `verifiers.json` reports per verifier."""
    oracle = metrics.get("oracle", {})
    return {"responses": metrics["responses"], "labeled_prefixes": labeled, "outcome_auc": metrics["outcome_auc"],
            "outcome_auc_ci": metrics["outcome_auc_ci"], "dead_end_auc": oracle.get("dead_end_auc"),
            "dead_end_auc_ci": oracle.get("dead_end_auc_ci"), "ece": metrics["calibration"]["ece"],
            "calibration_target": metrics["calibration"]["target"]}


def run_verifier_study(config: VerifierStudyConfig) -> Path:
    """Train and evaluate every (kind, size); write `verifiers.json` (returned: per kind the largest size's
    metrics, and `scaling`, every size's) and the scaling figure."""
    run_dir = prepare_run(config.out, config, kind=KIND)
    paths = resolve_label_paths(config.labels)
    scaling = []
    for size in sorted(set(config.sizes)):
        rows, labeled = take_rows(paths, size)
        subset = run_dir / "subsets" / f"labels-{size}.jsonl"
        if not subset.exists():
            write_jsonl(subset, rows)
        steps = min(config.steps, max(1, math.ceil(config.epochs * labeled / config.batch_size)))
        results = {"orm": _train_and_eval(config, "orm", subset, run_dir / f"orm-{size}", steps),
                   "prm": _train_and_eval(config, "prm", subset, run_dir / f"prm-{size}", steps)}
        results["pav_from_prm"] = _evaluate(config, run_dir / f"prm-{size}" / "model",
                                            run_dir / f"prm-{size}" / "eval-pav", config.prover)
        results["pav"] = (_train_and_eval(config, "pav", subset, run_dir / f"pav-bo{config.pav_target_bok}-{size}",
                                          steps) if config.pav_target_bok else results["pav_from_prm"])
        scaling += [{"size": size, "kind": kind, "steps": steps, **row_of(metrics, labeled),
                     **({"trained_on_prover_values": config.pav_target_bok is not None} if kind == "pav" else {})}
                    for kind, metrics in results.items()]
    largest = max(row["size"] for row in scaling)
    summary: dict[str, Any] = {row["kind"]: {k: v for k, v in row.items() if k not in ("size", "kind")}
                               for row in scaling if row["size"] == largest}
    summary["pav"]["prover"] = f"bok:{config.pav_target_bok}" if config.pav_target_bok else config.prover
    summary["pav_from_prm"]["prover"] = config.prover
    summary["scaling"] = scaling
    summary["figure"] = str(plot_scaling(scaling, run_dir / "verifier_scaling.png"))
    write_json(run_dir / f"{KIND}.json", summary)
    return run_dir / f"{KIND}.json"


LEGEND = {"orm": "ORM", "prm": "Q^pi PRM", "pav": "PAV trained on Bo-K values"}


def plot_scaling(scaling: list[dict[str, Any]], path: Path) -> Path:
    """Outcome and dead-end AUC against labeled prefixes (log scale), with CIs, per verifier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, (metric, title) in zip(axes, (("outcome_auc", "outcome AUC"), ("dead_end_auc", "dead-end AUC")),
                                     strict=True):
        for kind in ("orm", "prm", "pav"):
            rows = [r for r in scaling if r["kind"] == kind and r[metric] is not None
                    and (kind != "pav" or r.get("trained_on_prover_values"))]
            if not rows:
                continue
            xs, ys = [r["labeled_prefixes"] for r in rows], [r[metric] for r in rows]
            line, = axis.plot(xs, ys, marker="o", label=LEGEND[kind])
            cis = [r.get(f"{metric}_ci") for r in rows]
            if all(cis):
                axis.fill_between(xs, [c[0] for c in cis], [c[1] for c in cis], color=line.get_color(), alpha=0.2)
        axis.set_xscale("log")
        axis.set(xlabel="labeled prefixes", ylabel=title, title=f"{title} vs labels (held out)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
