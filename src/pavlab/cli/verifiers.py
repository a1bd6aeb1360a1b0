"""`pavlab train-verifier` and `pavlab eval-verifier`: fit a value model on labels, then check it on held-out ones."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.io import read_json
from pavlab.verifiers.evaluate import RELIABILITY_FILE, EvalVerifierConfig, run_eval_verifier
from pavlab.verifiers.train import TrainVerifierJobConfig, run_train_verifier

console = Console()


@config_command(app, "train-verifier", TrainVerifierJobConfig)
def train_verifier_command(config: TrainVerifierJobConfig) -> None:
    """Train an ORM (Rex at the end), PRM or PAV (soft BCE on q_hat at every labeled prefix); resumable.

    PAV with --prover bok:K: trains the Q^pi model on labels rolled out by pi and records the prover in verifier.json.

    Its Q^mu is 1-(1-Q^pi)^K by formula, so no second model is trained.

    PAV with --prover policy:PATH: trains the Q^mu model itself, on labels from `pavlab label --rollout_policy PATH`.

    Search and RL then use that verifier as prover model:DIR.
    """
    out = run_train_verifier(config)
    console.print(f"saved {config.kind} verifier to {out}")


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def metrics_table(metrics: dict[str, Any]) -> Table:
    """The headline numbers of `evaluate_verifier`, one per row."""
    calibration = metrics["calibration"]
    table = Table("metric", "value", title=f"{metrics['verifier']['kind']} verifier on "
                                           f"{metrics['responses']} held-out responses")
    rows: list[tuple[str, Any]] = [
        ("success rate", metrics["success_rate"]),
        (f"ECE vs {calibration['target']} ({calibration['states']} states)", calibration["ece"]),
        (f"Brier vs {calibration['target']}", calibration["brier"]),
        ("outcome AUC (final value)", metrics["outcome_auc"])]
    oracle = metrics.get("oracle")
    if oracle is not None:
        rows.append((f"dead-end AUC ({oracle['dead_prefixes']}/{oracle['prefixes']} prefixes dead)",
                     oracle["dead_end_auc"]))
        rows.append((f"dead-end step AUC of step advantages ({oracle['dead_end_steps']} dead-end steps)",
                     oracle["dead_end_step_auc"]))
        for rule, scores in oracle["first_error"].items():
            rows += first_error_rows(f"first error, {rule} < {scores['threshold']:g}", scores)
    for name, value in rows:
        table.add_row(name, _fmt(value))
    return table


def first_error_rows(label: str, scores: dict[str, Any]) -> list[tuple[str, Any]]:
    """ProcessBench's three numbers (accuracy on erroneous and on correct solutions, F1) as table rows."""
    return [(f"{label}: acc erroneous ({scores['erroneous']})", scores["accuracy_erroneous"]),
            (f"{label}: acc correct ({scores['correct']})", scores["accuracy_correct"]),
            (f"{label}: F1", scores["f1"])]


def processbench_table(metrics: dict[str, Any]) -> Table:
    """`eval-verifier --processbench`: per reading, the scores at its threshold and the best threshold."""
    report = metrics["processbench"]
    read_as = f" as {metrics['verifier']['read_as']}" if metrics["verifier"]["read_as"] else ""
    table = Table("metric", "value", title=f"{metrics['verifier']['kind']} verifier{read_as} on "
                                           f"{report['solutions']} ProcessBench-format solutions "
                                           f"({report['erroneous']} erroneous, {report['correct']} correct)")
    for rule, scores in report["rules"].items():
        best = scores["best_on_these_rows"]
        for name, value in [*first_error_rows(f"{rule} < {scores['threshold']:g}", scores),
                            (f"{rule}: best threshold on these rows (F1 {best['f1']:.4f})", best["threshold"])]:
            table.add_row(name, _fmt(value))
    return table


@config_command(app, "eval-verifier", EvalVerifierConfig)
def eval_verifier_command(config: EvalVerifierConfig) -> None:
    """Held-out checks: calibration (ECE, Brier, reliability diagram) against fresh MC labels, outcome AUC,
    and with --task countdown, dead-end AUC and ProcessBench first-error accuracy/F1 against the exact oracle.

    With --processbench FILE instead of --labels: ProcessBench's first-error accuracies and F1 on that file."""
    if config.processbench is not None:
        from pavlab.verifiers.processbench import PREDICTIONS_FILE, run_processbench_eval

        metrics_file = run_processbench_eval(config)
        console.print(processbench_table(read_json(metrics_file)))
        console.print(f"wrote {metrics_file} and {config.out / PREDICTIONS_FILE}")
        return
    metrics_file = run_eval_verifier(config)
    console.print(metrics_table(read_json(metrics_file)))
    console.print(f"wrote {metrics_file} and {config.out / RELIABILITY_FILE}")
