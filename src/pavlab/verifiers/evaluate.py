"""Held-out evaluation of a verifier: calibration, outcome ranking and, with an exact oracle, error finding.

Three questions, each answered on labeled responses the verifier never trained on:

- Is it calibrated? Predicted values against fresh Monte Carlo labels q_hat (prm/pav) or against
  the outcome Rex at the last state (orm): ECE, Brier score and a reliability diagram.
- Can it rank outcomes? AUC of the final value telling successful from failed responses (its ORM use).
- Does it find mistakes? Only with a task whose prefixes have an exact value (countdown's
  `prefix_alive`): AUC of telling dead-end prefixes from live ones, and ProcessBench-style
  first-error-step accuracy. A response's true first error is the first step after which the
  prefix is dead; the predicted one is the first step whose value falls below `value_threshold`
  (or, second rule, whose advantage falls below `advantage_threshold`). Accuracy is reported on
  erroneous responses (predicted step == true step) and on correct ones (no step flagged), and
  F1 is their harmonic mean, as in ProcessBench.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.io import write_json
from pavlab.labeling.format import LabeledResponse, read_label_rows, resolve_label_paths
from pavlab.policies.prover_spec import Prover
from pavlab.progress import progress_bar
from pavlab.tasks.base import Problem, parse_numbers_question
from pavlab.tasks.countdown import CountdownTask
from pavlab.tasks.subset_sum import steps_alive
from pavlab.verifiers.calibration import (
    ReliabilityBins,
    bootstrap_auc_ci,
    brier_score,
    expected_calibration_error,
    reliability_bins,
    roc_auc,
)
from pavlab.verifiers.model import ValueModel, VerifierInfo, VerifierKind
from pavlab.verifiers.progress import advantages, bok_label, bok_values
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.third_party import load_value_model

EVAL_METRICS_FILE = "metrics.json"
RELIABILITY_FILE = "reliability.png"
# Alive flags of the H+1 states of a response (index 0: bare prompt); what an exact oracle gives.
PrefixOracle = Callable[[LabeledResponse], list[bool]]
ErrorRule = Literal["value", "advantage"]


def json_ready(obj: Any) -> Any:
    """NaN (a metric with an empty class, an empty bin) becomes null, so metrics.json is strict JSON."""
    if isinstance(obj, dict):
        return {key: json_ready(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [json_ready(value) for value in obj]
    return None if isinstance(obj, float) and not np.isfinite(obj) else obj


def _numbers_problem(response: LabeledResponse, task_name: str) -> Problem:
    """The problem a "numbers -> target" prompt ("3 7 12 25 -> 24") states; countdown and subset_sum share it."""
    parsed = parse_numbers_question(response.prompt)
    if parsed is None:
        raise PavlabError(f"prompt {response.prompt[:60]!r} is not a {task_name} question (numbers -> target)",
                          field=f"prompt of {response.problem_id}")
    numbers, target = parsed
    return Problem(id=response.problem_id, question=response.prompt, answer=str(target),
                   meta={"numbers": numbers, "target": target})


def countdown_oracle(response: LabeledResponse) -> list[bool]:
    """`prefix_alive` at every state; the problem is rebuilt from the prompt."""
    problem = _numbers_problem(response, "countdown")
    task = CountdownTask(n_numbers=min(6, max(2, len(problem.meta["numbers"]))))
    return [task.prefix_alive(problem, response.steps[:h]) for h in range(len(response.steps) + 1)]


def subset_sum_oracle(response: LabeledResponse) -> list[bool]:
    """`prefix_alive` at every state; the problem is rebuilt from the prompt."""
    problem = _numbers_problem(response, "subset_sum")
    numbers, target = problem.meta["numbers"], problem.meta["target"]
    return [steps_alive(numbers, target, response.steps[:h]) for h in range(len(response.steps) + 1)]


ORACLES: dict[str, PrefixOracle] = {"countdown": countdown_oracle, "subset_sum": subset_sum_oracle}


def predicted_first_error(values: np.ndarray, step_advantages: np.ndarray, rule: ErrorRule,
                          threshold: float) -> int | None:
    """1-based index of the first step the verifier flags, or None when it flags none."""
    scores = np.asarray(values)[1:] if rule == "value" else np.asarray(step_advantages)
    flagged = np.flatnonzero(scores < threshold)
    return int(flagged[0]) + 1 if flagged.size else None


def true_first_error(alive: Sequence[bool]) -> int | None:
    """1-based index of the first step whose prefix is dead, or None when every prefix is alive."""
    return next((h for h in range(1, len(alive)) if not alive[h]), None)


def first_error_metrics(predicted: Sequence[int | None], truth: Sequence[int | None]) -> dict[str, float | int]:
    """ProcessBench scores: exact-step accuracy on erroneous responses, no-flag accuracy on correct ones, F1."""
    erroneous = [p == t for p, t in zip(predicted, truth, strict=True) if t is not None]
    correct = [p is None for p, t in zip(predicted, truth, strict=True) if t is None]
    acc_err = float(np.mean(erroneous)) if erroneous else float("nan")
    acc_ok = float(np.mean(correct)) if correct else float("nan")
    f1 = 2 * acc_err * acc_ok / (acc_err + acc_ok) if acc_err + acc_ok > 0 else 0.0
    return {"accuracy_erroneous": acc_err, "accuracy_correct": acc_ok, "f1": f1,
            "erroneous": len(erroneous), "correct": len(correct)}


def prover_advantages(values: np.ndarray, prover: str | None) -> np.ndarray:
    """Step advantages the verifier implies: of Q^{BoK} for a `bok:K` prover (the PAV), else of its own values."""
    if prover is not None and (spec := Prover.parse(prover)).kind == "bok":
        return advantages(bok_values(values, spec.k))
    return advantages(values)


def transform_prover(info: VerifierInfo) -> str | None:
    """The prover whose transform turns the verifier's values into prover values; None when they already are.

    Why: a PAV trained on BoK values (`target: bok:K`) records `prover: bok:K` too, and transforming its
    values again would read Bo(K^2)-like values off it.
    """
    return None if info.target is not None else info.prover


def calibration_pairs(responses: Sequence[LabeledResponse], values: Sequence[np.ndarray],
                      kind: VerifierKind, bok_k: int | None = None,
                      values_are_bok: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, label) at every state the verifier was trained to predict: q_hat states, or the end for orm.

    With `bok_k`, the verifier is read as the PAV of a Best-of-K prover: predictions are its
    Q^{BoK} values (the Q^pi values transformed, or as they are when the verifier was trained on
    BoK values: `values_are_bok`) and labels the unbiased BoK estimates from each state's rollout counts.
    """
    predicted: list[float] = []
    target: list[float] = []
    for response, vals in zip(responses, values, strict=True):
        if kind == "orm":
            predicted.append(float(vals[-1]))
            target.append(float(response.correct))
            continue
        counts = response.n_rollouts or [None] * len(response.q_hat)
        for value, q, n in zip(vals, response.q_hat, counts, strict=True):
            if q is None:
                continue
            if bok_k is None:
                predicted.append(float(value))
                target.append(float(q))
            elif n is not None and n >= bok_k:
                predicted.append(float(value) if values_are_bok else float(bok_values(value, bok_k)))
                target.append(bok_label(q, n, bok_k))
    return np.asarray(predicted), np.asarray(target)


def oracle_metrics(responses: Sequence[LabeledResponse], values: Sequence[np.ndarray], oracle: PrefixOracle,
                   prover: str | None, value_threshold: float, advantage_threshold: float) -> dict[str, Any]:
    """Dead-end AUC over step prefixes and first-error metrics under both flagging rules.

    Responses whose prompt is already dead, or that failed with every prefix alive (stopped
    early), have no first error step and are left out of the first-error metrics.
    `label_dead_end_auc` is the same AUC for the Monte Carlo labels themselves (the states they
    cover): what the verifier is trained to predict can rank dead ends this well, so a verifier
    far below it is limited by its learning, not by its labels. `dead_end_step_auc` ranks the steps
    taken from a live state by the step advantage the verifier implies (what PAV-RL rewards): a
    difference of two values is noisier than either, so it can sit well below `dead_end_auc`.
    """
    scores: list[float] = []
    alive_flags: list[bool] = []
    owners: list[int] = []
    label_scores: list[float] = []
    label_alive: list[bool] = []
    truth: list[int | None] = []
    kept: list[int] = []
    step_scores: list[float] = []
    step_keeps_alive: list[bool] = []
    step_owners: list[int] = []
    step_advantages = [prover_advantages(vals, prover) for vals in values]  # read by both step metrics below
    with progress_bar("checking prefixes with the oracle", total=len(responses)) as advance:
        for index, (response, vals) in enumerate(zip(responses, values, strict=True)):
            alive = oracle(response)
            from_live = [h for h in range(len(alive) - 1) if alive[h]]
            step_scores.extend(float(step_advantages[index][h]) for h in from_live)
            step_keeps_alive.extend(alive[h + 1] for h in from_live)
            step_owners.extend([index] * len(from_live))
            scores.extend(float(v) for v in vals[1:])
            alive_flags.extend(alive[1:])
            owners.extend([index] * (len(alive) - 1))
            labeled = [(q, flag) for q, flag in zip(response.q_hat[1:], alive[1:], strict=True) if q is not None]
            label_scores.extend(q for q, _ in labeled)
            label_alive.extend(flag for _, flag in labeled)
            first = true_first_error(alive)
            if alive[0] and (first is not None or response.correct):
                truth.append(first)
                kept.append(index)
            advance(1)
    thresholds = {"value": value_threshold, "advantage": advantage_threshold}
    first_error = {}
    for rule, threshold in thresholds.items():
        predicted = [predicted_first_error(values[i], step_advantages[i], rule, threshold) for i in kept]
        first_error[rule] = {"threshold": threshold, **first_error_metrics(predicted, truth)}
    return {"dead_end_auc": roc_auc(scores, alive_flags),
            "dead_end_auc_ci": bootstrap_auc_ci(scores, alive_flags, owners), "prefixes": len(scores),
            "label_dead_end_auc": roc_auc(label_scores, label_alive) if label_scores else None,
            "dead_end_step_auc": roc_auc(step_scores, step_keeps_alive),
            "dead_end_step_auc_ci": bootstrap_auc_ci(step_scores, step_keeps_alive, step_owners),
            "dead_end_steps": step_keeps_alive.count(False),
            "dead_prefixes": alive_flags.count(False), "first_error": first_error,
            "skipped_responses": len(responses) - len(kept)}


def evaluate_verifier(model: ValueModel, tokenizer: Any, responses: Sequence[LabeledResponse],
                      oracle: PrefixOracle | None = None, bins: int = 10, value_threshold: float = 0.5,
                      advantage_threshold: float = -0.2, batch_size: int = 32, bok_k: int | None = None
                      ) -> dict[str, Any]:
    """All held-out metrics of one verifier as a JSON-ready dict (see the module docstring).

    With `bok_k`, calibration is that of the Best-of-K PAV the verifier implies (its AUCs are the
    Q^pi model's: the transform is monotone); the labels must record their rollout counts.
    """
    if not responses:
        raise PavlabError("no labeled responses to evaluate on", field="labels")
    values = score_prefixes(model, tokenizer, [r.prompt for r in responses], [r.steps for r in responses],
                            model.info.step_separator, batch_size)
    trained_bok = model.info.target
    if trained_bok is not None:
        if bok_k is not None:
            raise PavlabError(f"this verifier already predicts {trained_bok} values; drop as_prover",
                              field="as_prover")
        bok_k = int(trained_bok[4:])
    predicted, target = calibration_pairs(responses, values, model.info.kind, bok_k, trained_bok is not None)
    if bok_k is not None and predicted.size == 0:
        raise PavlabError(f"reading the verifier as a Bo{bok_k} PAV needs labels with n_rollouts >= {bok_k}",
                          field="as_prover")
    finals, outcomes = [float(v[-1]) for v in values], [r.correct for r in responses]
    table: ReliabilityBins = reliability_bins(predicted, target, bins)
    metrics: dict[str, Any] = {
        "verifier": {"kind": model.info.kind, "prover": model.info.prover},
        "responses": len(responses),
        "success_rate": float(np.mean([r.correct for r in responses])),
        "calibration": {"target": "outcome" if model.info.kind == "orm" else f"bo{bok_k}_label" if bok_k else "q_hat",
                        "states": int(predicted.size),
                        "ece": expected_calibration_error(predicted, target, bins),
                        "brier": brier_score(predicted, target), "bins": table.to_dict()},
        "outcome_auc": roc_auc(finals, outcomes),
        "outcome_auc_ci": bootstrap_auc_ci(finals, outcomes),
    }
    if oracle is not None:
        metrics["oracle"] = oracle_metrics(responses, values, oracle, transform_prover(model.info), value_threshold,
                                           advantage_threshold)
    return metrics


def plot_reliability(table: dict[str, list[float]], path: Path, title: str) -> Path:
    """Reliability diagram: mean label per bin against mean prediction, bar width by bin, diagonal = perfect."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.asarray(table["edges"])
    counts = np.asarray(table["counts"])
    mean_target = np.asarray([np.nan if v is None else v for v in table["mean_target"]], dtype=np.float64)
    filled = counts > 0
    fig, (ax, ax_hist) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(edges[:-1][filled], mean_target[filled], width=np.diff(edges)[filled], align="edge",
           edgecolor="black", alpha=0.7, label="mean label")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set(ylabel="mean label", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    ax_hist.bar(edges[:-1], counts, width=np.diff(edges), align="edge", edgecolor="black", color="gray")
    ax_hist.set(xlabel="predicted value", ylabel="states")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class EvalVerifierConfig(Config):
    verifier: str = Field(..., description="verifier directory (from train-verifier), or a third-party PRM: "
                                           "hf-prm:DIR, or a folder or file with a prm.json")
    labels: list[str] = Field(default_factory=list, description="held-out label files, shard folders or `pavlab "
                              "label` run folders (or give --processbench instead)")
    processbench: Path | None = Field(None, description="ProcessBench-format JSONL ({problem, steps, label: first "
                                      "wrong step or -1}): first-error accuracies and F1 instead of the label checks")
    task: Literal["countdown", "subset_sum"] | None = Field(None, description="task with an exact prefix oracle")
    as_prover: str | None = Field(None, description="bok:K: calibrate the Best-of-K PAV this Q^pi model implies")
    bins: int = Field(10, ge=1, description="equal-width bins for ECE and the reliability diagram")
    value_threshold: float = Field(0.5, ge=0, le=1, description="a step whose value is below this is an error "
                                   "(0.5: ProcessBench's P(step correct) < 0.5)")
    advantage_threshold: float = Field(-0.2, ge=-1, le=1, description="a step whose advantage is below this is "
                                                                      "an error (second rule)")
    batch_size: int = Field(32, ge=1)
    device: str = Field("cpu", description="'cpu', 'cuda', ...")
    out: Path = Field(..., description="folder for metrics.json and reliability.png")

    @field_validator("labels", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_input(self) -> EvalVerifierConfig:
        if bool(self.labels) == (self.processbench is not None):
            raise PavlabError("give held-out labels (--labels) or a ProcessBench file (--processbench), one of them",
                              field="labels")
        return self


def run_eval_verifier(config: EvalVerifierConfig) -> Path:
    """Load the verifier and labels, evaluate, and write metrics.json and reliability.png into `config.out`;
    returns the path of metrics.json (every number of `evaluate_verifier`, and the config)."""
    model, tokenizer = load_value_model(config.verifier)  # a pavlab verifier or a third-party PRM spec
    model.to(config.device)
    responses = read_label_rows(resolve_label_paths(config.labels))
    bok_k = None
    if config.as_prover is not None:
        prover = Prover.parse(config.as_prover, field="as_prover")
        if prover.kind != "bok":
            raise PavlabError("as_prover takes bok:K (a model:DIR prover is evaluated as its own verifier)",
                              field="as_prover")
        bok_k = prover.k
    metrics = evaluate_verifier(model, tokenizer, responses, ORACLES[config.task] if config.task else None,
                                config.bins, config.value_threshold, config.advantage_threshold, config.batch_size,
                                bok_k)
    title = f"{model.info.kind} vs {metrics['calibration']['target']} (ECE {metrics['calibration']['ece']:.3f})"
    metrics = json_ready({**metrics, "config": config.model_dump(mode="json")})
    write_json(config.out / EVAL_METRICS_FILE, metrics)
    plot_reliability(metrics["calibration"]["bins"], config.out / RELIABILITY_FILE, title)
    return config.out / EVAL_METRICS_FILE
