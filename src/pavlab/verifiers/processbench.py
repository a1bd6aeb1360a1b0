"""ProcessBench-format evaluation: does a verifier find the first wrong step of a solution?

A ProcessBench file (Zheng et al. 2024, "ProcessBench: Identifying Process Errors in Mathematical
Reasoning"; data at huggingface.co/datasets/Qwen/ProcessBench) is JSONL with one solution per line::

    {"id": "gsm8k-0", "problem": "...", "steps": ["...", "..."], "label": 1, "final_answer_correct": false}

`label` is the 0-based index of the earliest wrong step, -1 when every step is right; other fields
(`generator`, `final_answer_correct`, ...) are kept as they are.

Scoring follows ProcessBench's official scripts (github.com/QwenLM/ProcessBench, `code/run_eval_prm_trl.py`
and `code/run_eval_prm_rlhflow.py`): a solution's predicted label is the first step the scorer
flags (-1 when it flags none); accuracy is measured separately on erroneous solutions (prediction
== label) and on correct ones (prediction == -1), and F1 is their harmonic mean. In the TRL script
a step is flagged when the argmax of the PRM's two-way head is "negative", i.e. when P(step correct)
< 0.5; that is the default `value_threshold` here. pavlab's verifiers predict values (the chance a
policy still succeeds), not step correctness, so the file also reports the best threshold on the
same rows (optimistic: tuned on the test rows, stated as such).

`build_processbench` makes such a file from `pavlab sample` output on a task with an exact prefix
oracle (countdown, subset_sum): a step is wrong when the state after it can no longer be completed
correctly, so every label is exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.io import iter_jsonl, write_json, write_jsonl
from pavlab.labeling.format import LabeledResponse
from pavlab.progress import progress_bar
from pavlab.verifiers.evaluate import (
    EVAL_METRICS_FILE,
    ORACLES,
    EvalVerifierConfig,
    first_error_metrics,
    json_ready,
    true_first_error,
)
from pavlab.verifiers.progress import bok_values
from pavlab.verifiers.step_scores import ProcessVerifier, StepValues

REQUIRED = ("problem", "steps", "label")
PREDICTIONS_FILE = "processbench_predictions.jsonl"
SWEEP = tuple(round(t, 2) for t in np.arange(0.02, 1.0, 0.02))
"""Thresholds tried for the best-threshold line (values in (0, 1))."""


@dataclass(frozen=True)
class ProcessBenchRow:
    """One validated solution: `label` is the 0-based first wrong step, -1 when none."""

    id: str
    problem: str
    steps: list[str]
    label: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "problem": self.problem, "steps": self.steps, "label": self.label, **self.extra}


def load_processbench(path: str | Path) -> list[ProcessBenchRow]:
    """Validated rows of a ProcessBench-format JSONL file; a bad row is a one-line error naming file, line, field."""
    path = Path(path)
    rows: list[ProcessBenchRow] = []
    seen: set[str] = set()
    for line, row in iter_jsonl(path, required=REQUIRED):
        steps, label, problem = row["steps"], row["label"], row["problem"]
        if not isinstance(problem, str):
            raise PavlabError("must be a string", path=path, line=line, field="problem")
        if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
            raise PavlabError("must be a non-empty list of strings", path=path, line=line, field="steps")
        if isinstance(label, bool) or not isinstance(label, int) or not -1 <= label < len(steps):
            raise PavlabError(f"must be -1 or a step index 0..{len(steps) - 1}, got {label!r}", path=path, line=line,
                              field="label")
        row_id = row.get("id", f"{path.stem}-{line}")
        if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
            raise PavlabError("must be a string or an integer", path=path, line=line, field="id")
        if str(row_id) in seen:
            raise PavlabError(f"duplicate id {str(row_id)!r}", path=path, line=line, field="id")
        seen.add(str(row_id))
        extra = {k: v for k, v in row.items() if k not in ("id", *REQUIRED)}
        rows.append(ProcessBenchRow(str(row_id), problem, steps, label, extra))
    if not rows:
        raise PavlabError("holds no solutions (expected one JSON object per line with 'problem', 'steps', 'label')",
                          path=path)
    return rows


def first_flagged(step_scores: np.ndarray, threshold: float) -> int:
    """0-based index of the first step scored below `threshold`, -1 when none is."""
    flagged = np.flatnonzero(np.asarray(step_scores) < threshold)
    return int(flagged[0]) if flagged.size else -1


def processbench_f1(labels: Sequence[int], step_scores: Sequence[np.ndarray], threshold: float) -> dict[str, Any]:
    """ProcessBench's accuracy on erroneous and on correct solutions and their harmonic mean (F1)."""
    def none_if_correct(index: int) -> int | None:
        return None if index == -1 else index

    predicted = [none_if_correct(first_flagged(s, threshold)) for s in step_scores]
    return {"threshold": threshold, **first_error_metrics(predicted, [none_if_correct(x) for x in labels])}


def processbench_report(rows: Sequence[ProcessBenchRow], readings: dict[str, Sequence[np.ndarray]],
                        thresholds: dict[str, float]) -> dict[str, Any]:
    """Per reading ("value", "advantage", ...): the scores at its stated threshold and at the best swept one."""
    labels = [row.label for row in rows]
    report: dict[str, Any] = {"solutions": len(rows), "erroneous": sum(x != -1 for x in labels),
                              "correct": labels.count(-1), "rules": {}}
    for rule, scores in readings.items():
        sweep = SWEEP if rule == "value" else tuple(round(-t, 2) for t in SWEEP)
        best = max((processbench_f1(labels, scores, t) for t in sweep), key=lambda m: m["f1"])
        report["rules"][rule] = {**processbench_f1(labels, scores, thresholds[rule]), "best_on_these_rows": best}
    return report


def score_rows(verifier: ProcessVerifier, rows: Sequence[ProcessBenchRow], chunk: int = 256) -> list[StepValues]:
    """The verifier's values of every prefix of every row (the prompt is the `problem` text as written), in chunks
    under a progress bar."""
    results: list[StepValues] = []
    with progress_bar(f"scoring {len(rows)} solutions", total=len(rows)) as advance:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            results.extend(verifier.score([row.problem for row in part], [row.steps for row in part]))
            advance(len(part))
    return results


def run_processbench_eval(config: EvalVerifierConfig) -> Path:
    """`pavlab eval-verifier --processbench FILE`: score every solution with the verifier (any spec
    `ProcessVerifier.load` reads, third-party PRMs included), then
    ProcessBench's metrics under two readings:

    - "value": step h is wrong when the value of the state after it is below `value_threshold`
      (the verifier's own value; with `--as_prover bok:K`, the Best-of-K value 1 - (1 - Q)^K);
    - "advantage": step h is wrong when its advantage (change of that value) is below `advantage_threshold`.

    Writes metrics.json and one prediction line per solution into `config.out`; returns the path of metrics.json.
    """
    from pavlab.policies.prover_spec import Prover

    assert config.processbench is not None
    rows = load_processbench(config.processbench)
    prover = Prover.parse(config.as_prover or "bok:1", field="as_prover")
    if prover.kind != "bok":
        raise PavlabError("as_prover takes bok:K (a model:DIR prover is evaluated as its own verifier)",
                          field="as_prover")
    verifier = ProcessVerifier.load(config.verifier, prover, batch_size=config.batch_size)
    verifier.q_pi.to(config.device)
    results = score_rows(verifier, rows)
    values = [bok_values(r.q_pi[1:], prover.k) if config.as_prover else r.q_pi[1:] for r in results]
    readings = {"value": values, "advantage": [r.advantages for r in results]}
    thresholds = {"value": config.value_threshold, "advantage": config.advantage_threshold}
    report = processbench_report(rows, readings, thresholds)
    info = getattr(verifier.q_pi, "info", None)
    metrics = json_ready({"verifier": {"kind": getattr(info, "kind", None), "prover": getattr(info, "prover", None),
                                       "read_as": str(prover) if config.as_prover else None},
                          "processbench": {"file": str(config.processbench), **report},
                          "config": config.model_dump(mode="json")})
    write_json(config.out / EVAL_METRICS_FILE, metrics)
    write_jsonl(config.out / PREDICTIONS_FILE, (
        {"id": row.id, "label": row.label,
         **{f"prediction_{rule}": first_flagged(readings[rule][i], thresholds[rule]) for rule in readings}}
        for i, row in enumerate(rows)))
    return config.out / EVAL_METRICS_FILE


# -- building a file from sampled responses and an exact oracle ---------------------------------------


def oracle_label(task: str, problem_id: str, prompt: str, steps: list[str], correct: bool) -> int | None:
    """The exact ProcessBench label of one response, or None when it has none (dead prompt, or no error yet no
    answer: the response stopped early)."""
    alive = ORACLES[task](LabeledResponse(problem_id, prompt, steps, correct, [None] * (len(steps) + 1)))
    first = true_first_error(alive)
    if not alive[0] or (first is None and not correct):
        return None
    return -1 if first is None else first - 1


def build_processbench(task: str, samples: str | Path, per_class: int, per_problem: int = 1, seed: int = 0,
                       generator: str | None = None) -> tuple[list[ProcessBenchRow], dict[str, int]]:
    """A balanced ProcessBench file from `pavlab sample` output: up to `per_class` erroneous and as many correct
    solutions (equal counts), at most `per_problem` of each class per problem, duplicates dropped.

    Returns the rows (sorted by id) and counts of what was seen and dropped.
    """
    if task not in ORACLES:
        raise PavlabError(f"no exact oracle for task '{task}' (expected one of {', '.join(ORACLES)})", field="task")
    samples = Path(samples)
    pools: dict[bool, list[ProcessBenchRow]] = {True: [], False: []}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    counts = {"responses": 0, "duplicates": 0, "unlabeled": 0}
    for line, row in iter_jsonl(samples, required=("problem_id", "prompt", "steps", "correct")):
        counts["responses"] += 1
        steps, prompt, correct = row["steps"], row["prompt"], row["correct"]
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            raise PavlabError("must be a list of strings", path=samples, line=line, field="steps")
        if not isinstance(prompt, str):
            raise PavlabError("must be a string", path=samples, line=line, field="prompt")
        if not isinstance(correct, bool):
            raise PavlabError("must be true or false", path=samples, line=line, field="correct")
        if (prompt, tuple(steps)) in seen:
            counts["duplicates"] += 1
            continue
        seen.add((prompt, tuple(steps)))
        label = oracle_label(task, str(row["problem_id"]), prompt, steps, correct) if steps else None
        if label is None:
            counts["unlabeled"] += 1
            continue
        extra = {"final_answer_correct": correct, "problem_id": str(row["problem_id"])}
        if generator is not None:
            extra["generator"] = generator
        row_id = f"{row['problem_id']}-{row.get('sample_index', line)}"
        pools[label == -1].append(ProcessBenchRow(row_id, prompt, steps, label, extra))
    if counts["responses"] == 0:
        raise PavlabError("holds no samples (expected `pavlab sample` output)", path=samples)
    rng = random.Random(seed)
    chosen: dict[bool, list[ProcessBenchRow]] = {}
    for is_correct, pool in pools.items():
        rng.shuffle(pool)
        per: dict[str, int] = {}
        chosen[is_correct] = []
        for item in pool:
            key = item.extra["problem_id"]
            if per.get(key, 0) < per_problem:
                per[key] = per.get(key, 0) + 1
                chosen[is_correct].append(item)
    n = min(per_class, len(chosen[True]), len(chosen[False]))
    if n == 0:
        raise PavlabError(f"no {'correct' if not chosen[True] else 'erroneous'} response with an exact label "
                          "among the samples: sample more problems or responses", path=samples)
    rows = sorted(chosen[True][:n] + chosen[False][:n], key=lambda r: r.id)
    counts.update({"correct_available": len(chosen[True]), "erroneous_available": len(chosen[False]), "per_class": n})
    return rows, counts


def write_processbench(path: str | Path, rows: Sequence[ProcessBenchRow]) -> Path:
    write_jsonl(path, (row.to_json() for row in rows))
    return Path(path)


class ProcessBenchBuildConfig(Config):
    task: str = Field(..., description="task with an exact prefix oracle: countdown or subset_sum")
    samples: Path = Field(..., description="`pavlab sample` output on that task")
    per_class: int = Field(250, ge=1, description="erroneous solutions to keep, and as many correct ones")
    per_problem: int = Field(1, ge=1, description="most solutions of each class from one problem")
    seed: int = Field(0, description="which responses are kept when there are more")
    generator: str | None = Field(None, description="recorded in each row's `generator` field")
    out: Path = Field(..., description="ProcessBench-format JSONL to write")


def run_processbench_build(config: ProcessBenchBuildConfig, echo: Callable[[str], None] = print) -> Path:
    """The `processbench build` job: write the balanced file; returns it (`config.out`).

    What the file cannot say (responses seen, available per class, dropped) goes to `echo` in one line.
    """
    rows, counts = build_processbench(config.task, config.samples, config.per_class, config.per_problem, config.seed,
                                      config.generator)
    path = write_processbench(config.out, rows)
    echo(f"wrote {2 * counts['per_class']} solutions ({counts['per_class']} erroneous, {counts['per_class']} "
         f"correct) to {path}; from {counts['responses']} responses: {counts['erroneous_available']} "
         f"erroneous and {counts['correct_available']} correct available, {counts['unlabeled']} without a "
         f"first error or an answer, {counts['duplicates']} duplicates")
    return path
