"""PRM data in and out: pavlab label files to and from the formats other PRM trainers read.

Formats (one JSON object per line):

- `trl`: TRL's stepwise supervision, `{"prompt", "completions": [step, ...], "labels": [bool, ...]}`.
  Out: label = q_hat > threshold. In: true/false -> q_hat 1.0 / 0.0 (floats in [0, 1] kept).
- `math-shepherd`: `{"input", "label", "task"}`; `input` is the question, then one line
  `Step k: <step> ки` per step; `label` is `input` with each tag `ки` replaced by `+` or `-`.
  Out: `+` iff q_hat > threshold. In: `+` / `-` -> q_hat 1.0 / 0.0.
- `soft`: `{"input", "label": [float, ...], "prompt_value"}`, Math-Shepherd's tagged input with one
  value per tag: OpenRLHF's `ProcessRewardDataset` reads it with `--input_key input --label_key label
  --placeholder_token ки` (a list of floats is its soft-label case). q_hat as it is, both ways.
- `prm800k`: PRM800K's row, `question.problem` and `label.steps[k]` with `completions[c].rating` in
  -1 / 0 / +1 and the `chosen_completion`. Out: one completion per step, rating +1 iff q_hat >
  threshold, else -1. In: +1 -> 1.0, -1 -> 0.0, 0 -> `neutral` (default 0.5); the chosen completion
  (or the human one) of each step, and the first -1 completion of the step where the labeler stopped.

Hard labels are explicit: a step is positive iff its q_hat is above `threshold`, by default 0,
which is Math-Shepherd's hard estimate (a step is good when some rollout from it reached the right
answer). Only the labeled prefix of a response is exported: it is cut before its first unlabeled
state (q_hat null, e.g. past a dead end in first-pit labels), and a response with no labeled step
is skipped. The value of the bare prompt (q_hat[0]) has no place in these formats except `soft`
(`prompt_value`); rollout counts are not exported.

Importing: `problem_id` is a hash of the prompt (rows of one question share it), `correct` is
whether the last step's value is at least 0.5 (and, for PRM800K, the labeler finished the
solution). A Math-Shepherd question ends where `Step 1:` begins; one `Step k:` prefix is removed
from each step. Whitespace at the ends of the question is not kept. Every bad row is a one-line
error naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.io import iter_jsonl, write_jsonl
from pavlab.labeling.format import LabeledResponse, read_label_rows, resolve_label_paths, write_label_rows

ExchangeFormat = Literal["trl", "math-shepherd", "soft", "prm800k"]
TAG = "ки"
"""Math-Shepherd's step tag (Cyrillic), put after every step."""
_STEP_PREFIX = re.compile(r"\s*[Ss]tep\s*\d+\s*:\s?")
DEFAULT_THRESHOLD = 0.0
DEFAULT_NEUTRAL = 0.5


# -- export -------------------------------------------------------------------------------------------


def labeled_prefix(response: LabeledResponse) -> tuple[list[str], list[float]]:
    """The steps before the first unlabeled state after the prompt, and their values q_hat[1..]."""
    steps: list[str] = []
    values: list[float] = []
    for step, q in zip(response.steps, response.q_hat[1:], strict=True):
        if q is None:
            break
        steps.append(step)
        values.append(q)
    return steps, values


def _no_tag(response: LabeledResponse) -> None:
    if any(TAG in text for text in (response.prompt, *response.steps)):
        raise PavlabError(f"the text of problem {response.problem_id!r} holds Math-Shepherd's step tag {TAG!r}, so "
                          "its steps could not be told apart; export it as trl or prm800k", field="steps")


def shepherd_input(prompt: str, steps: Sequence[str], marks: Sequence[str] | None = None) -> str:
    """The question, then one `Step k: <step> <tag>` line per step (`marks[k]` in place of the tag when given)."""
    ends = marks if marks is not None else [TAG] * len(steps)
    return f"{prompt} " + "\n".join(f"Step {k}: {step} {end}" for k, (step, end) in enumerate(zip(steps, ends,
                                                                                                   strict=True), 1))


def _prm800k_row(response: LabeledResponse, steps: list[str], good: list[bool]) -> dict[str, Any]:
    finish = "solution" if response.correct else "found_error" if not all(good) else "give_up"
    return {"labeler": "pavlab", "timestamp": None, "generation": None, "is_quality_control_question": False,
            "is_initial_screening_question": False,
            "question": {"problem": response.prompt, "ground_truth_answer": None},
            "label": {"steps": [{"completions": [{"text": step, "rating": 1 if ok else -1, "flagged": None}],
                                 "human_completion": None, "chosen_completion": 0}
                                for step, ok in zip(steps, good, strict=True)],
                      "total_time": None, "finish_reason": finish}}


def export_row(response: LabeledResponse, fmt: ExchangeFormat, threshold: float) -> dict[str, Any] | None:
    """One label row in `fmt`, or None when the response has no labeled step."""
    steps, values = labeled_prefix(response)
    if not steps:
        return None
    good = [q > threshold for q in values]
    if fmt == "trl":
        return {"prompt": response.prompt, "completions": steps, "labels": good}
    if fmt == "prm800k":
        return _prm800k_row(response, steps, good)
    _no_tag(response)
    if fmt == "math-shepherd":
        return {"input": shepherd_input(response.prompt, steps),
                "label": shepherd_input(response.prompt, steps, ["+" if ok else "-" for ok in good]), "task": "pavlab"}
    return {"input": shepherd_input(response.prompt, steps), "label": values, "prompt_value": response.q_hat[0]}


def export_labels(responses: Iterable[LabeledResponse], fmt: ExchangeFormat, threshold: float = DEFAULT_THRESHOLD
                  ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows in `fmt` and counts: responses read, exported, cut before an unlabeled state, skipped."""
    rows: list[dict[str, Any]] = []
    counts = {"responses": 0, "exported": 0, "cut": 0, "skipped": 0}
    for response in responses:
        counts["responses"] += 1
        row = export_row(response, fmt, threshold)
        if row is None:
            counts["skipped"] += 1
            continue
        counts["exported"] += 1
        counts["cut"] += len(labeled_prefix(response)[0]) < len(response.steps)
        rows.append(row)
    return rows, counts


# -- import -------------------------------------------------------------------------------------------


class _Where:
    """File and line of the row being read, for one-line errors."""

    def __init__(self, path: Path, line: int) -> None:
        self.path, self.line = path, line

    def error(self, message: str, field: str) -> PavlabError:
        return PavlabError(message, path=self.path, line=self.line, field=field)


def _string(row: dict[str, Any], key: str, where: _Where, field: str | None = None) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise where.error("must be a string" if key in row else "missing", field or key)
    return value


def _value(value: Any, where: _Where, field: str) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise where.error(f"{value!r} is not true/false or a number in [0, 1]", field)
    return float(value)


def _split_shepherd(text: str, where: _Where, field: str) -> tuple[str, list[str]]:
    """(question, steps) of a tagged Math-Shepherd input."""
    parts = text.split(TAG)
    if len(parts) < 2:
        raise where.error(f"holds no step tag {TAG!r}", field)
    if parts[-1].strip():
        raise where.error(f"text after the last step tag {TAG!r}", field)
    head = parts[0]
    start = max(head.rfind("Step 1:"), head.rfind("step 1:"))
    if start < 0:
        raise where.error(f"cannot tell the question from the first step: expected 'Step 1:' before the first "
                          f"tag {TAG!r}", field)
    steps = []
    for k, raw in enumerate([head[start:], *parts[1:-1]], 1):
        step = _STEP_PREFIX.sub("", raw.removeprefix("\n"), count=1).removesuffix(" ")
        if not step.strip():
            raise where.error(f"step {k} is empty", field)
        steps.append(step)
    return head[:start].strip(), steps


def _shepherd_marks(text: str, label: str, where: _Where) -> list[bool]:
    """`+` / `-` at each tag: `label` must be `input` with each tag replaced by one of them."""
    parts = text.split(TAG)
    marks: list[bool] = []
    pos = 0
    for k, part in enumerate(parts):
        if not label.startswith(part, pos):
            raise where.error(f"differs from 'input' before step tag {k + 1}" if k < len(parts) - 1
                              else "differs from 'input' after the last step tag", "label")
        pos += len(part)
        if k == len(parts) - 1:
            break
        if label[pos:pos + 1] not in ("+", "-"):
            raise where.error(f"step {k + 1}: expected '+' or '-' where 'input' has the tag {TAG!r}", "label")
        marks.append(label[pos] == "+")
        pos += 1
    if pos != len(label):
        raise where.error("longer than 'input' with its tags replaced", "label")
    return marks


def _from_trl(row: dict[str, Any], where: _Where) -> tuple[str, list[str], list[float], float | None]:
    prompt, completions, labels = _string(row, "prompt", where), row.get("completions"), row.get("labels")
    if not isinstance(completions, list) or not completions or not all(isinstance(c, str) for c in completions):
        raise where.error("must be a non-empty list of strings", "completions")
    if not isinstance(labels, list) or len(labels) != len(completions):
        raise where.error(f"must be a list of {len(completions)} labels (one per completion)", "labels")
    return prompt, completions, [_value(v, where, "labels") for v in labels], None


def _from_shepherd(row: dict[str, Any], where: _Where) -> tuple[str, list[str], list[float], float | None]:
    text = _string(row, "input", where)
    prompt, steps = _split_shepherd(text, where, "input")
    marks = _shepherd_marks(text, _string(row, "label", where), where)
    return prompt, steps, [1.0 if good else 0.0 for good in marks], None


def _from_soft(row: dict[str, Any], where: _Where) -> tuple[str, list[str], list[float], float | None]:
    prompt, steps = _split_shepherd(_string(row, "input", where), where, "input")
    values = row.get("label")
    if not isinstance(values, list) or len(values) != len(steps) or any(isinstance(v, bool) for v in values):
        raise where.error(f"must be a list of {len(steps)} numbers in [0, 1] (one per step tag)", "label")
    prompt_value = row.get("prompt_value")
    q0 = None if prompt_value is None else _value(prompt_value, where, "prompt_value")
    return prompt, steps, [_value(v, where, "label") for v in values], q0


def _prm800k_step(step: Any, k: int, where: _Where) -> tuple[str, Any, bool]:
    """(text, rating, last) of step k: the chosen completion, a human one, or the flagged one where the labeler
    stopped (then `last`)."""
    field = f"label.steps[{k}]"
    if not isinstance(step, dict):
        raise where.error("must be an object", field)
    completions = step.get("completions") or []
    if not isinstance(completions, list) or not all(isinstance(c, dict) for c in completions):
        raise where.error("must be a list of objects", f"{field}.completions")
    chosen, human = step.get("chosen_completion"), step.get("human_completion")
    if chosen is not None:
        if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(completions):
            raise where.error(f"must be null or an index of completions (0..{len(completions) - 1})",
                              f"{field}.chosen_completion")
        pick, name, last = completions[chosen], f"{field}.completions[{chosen}]", False
    elif isinstance(human, dict):
        pick, name, last = {"rating": 1, **{k: v for k, v in human.items() if v is not None}}, \
            f"{field}.human_completion", False
    elif completions:
        index = next((i for i, c in enumerate(completions) if c.get("rating") == -1), 0)
        pick, name, last = completions[index], f"{field}.completions[{index}]", True
    else:
        raise where.error("no completion, chosen or human", field)
    if not isinstance(pick.get("text"), str):
        raise where.error("must be a string", f"{name}.text")
    if pick.get("rating") not in (-1, 0, 1) or isinstance(pick.get("rating"), bool):
        raise where.error(f"must be -1, 0 or 1, got {pick.get('rating')!r}", f"{name}.rating")
    return pick["text"], pick["rating"], last


def _from_prm800k(row: dict[str, Any], where: _Where, neutral: float
                  ) -> tuple[str, list[str], list[float], float | None]:
    question, label = row.get("question"), row.get("label")
    if not isinstance(question, dict):
        raise where.error("must be an object with 'problem'", "question")
    prompt = _string(question, "problem", where, "question.problem")
    if not isinstance(label, dict) or not isinstance(label.get("steps"), list) or not label["steps"]:
        raise where.error("must be an object with a non-empty list 'steps'", "label")
    steps: list[str] = []
    values: list[float] = []
    for k, step in enumerate(label["steps"]):
        text, rating, last = _prm800k_step(step, k, where)
        steps.append(text)
        values.append({1: 1.0, -1: 0.0, 0: neutral}[rating])
        if last:
            break
    return prompt, steps, values, None


def problem_id_of(prompt: str, fmt: str) -> str:
    return f"{fmt}-{hashlib.sha1(prompt.encode('utf-8')).hexdigest()[:12]}"


def import_rows(path: str | Path, fmt: ExchangeFormat, neutral: float = DEFAULT_NEUTRAL) -> list[dict[str, Any]]:
    """pavlab label rows from a file in `fmt`; a bad row is a one-line error naming the file, line and field."""
    path = Path(path)
    readers: dict[str, Callable[[dict[str, Any], _Where], tuple[str, list[str], list[float], float | None]]] = {
        "trl": _from_trl, "math-shepherd": _from_shepherd, "soft": _from_soft,
        "prm800k": lambda row, where: _from_prm800k(row, where, neutral)}
    rows = []
    for line, row in iter_jsonl(path):
        where = _Where(path, line)
        prompt, steps, values, q0 = readers[fmt](row, where)
        correct = values[-1] >= 0.5 and (fmt != "prm800k" or row["label"].get("finish_reason") == "solution")
        rows.append({"problem_id": problem_id_of(prompt, fmt), "prompt": prompt, "steps": steps, "correct": correct,
                     "q_hat": [q0, *values]})
    if not rows:
        raise PavlabError(f"holds no rows (expected one {fmt} row per line)", path=path)
    return rows


# -- jobs ---------------------------------------------------------------------------------------------


class LabelsExportConfig(Config):
    format: ExchangeFormat = Field(..., description="trl, math-shepherd, soft or prm800k")
    labels: list[str] = Field(..., description="label files, shard folders or `pavlab label` run folders")
    threshold: float = Field(DEFAULT_THRESHOLD, ge=0, lt=1, description="hard labels (trl, math-shepherd, "
                             "prm800k): a step is good iff its q_hat is above this; 0 = Math-Shepherd's hard "
                             "estimate (some rollout from the step succeeded)")
    out: Path = Field(..., description="JSONL file to write")

    @field_validator("labels", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class LabelsImportConfig(Config):
    format: ExchangeFormat = Field(..., description="trl, math-shepherd, soft or prm800k")
    file: Path = Field(..., description="JSONL file in that format")
    neutral: float = Field(DEFAULT_NEUTRAL, ge=0, le=1, description="prm800k: the value of a step rated 0 "
                           "(neutral); 1 counts it good, 0 bad")
    out: Path = Field(..., description="pavlab label file to write")


def run_labels_export(config: LabelsExportConfig, echo: Callable[[str], None] = print) -> Path:
    """The `labels export` job: write the labels as `config.format` rows; returns the file written (`config.out`).

    What the file cannot say (responses read, cut before an unlabeled state, skipped) goes to `echo` in one line.
    """
    rows, counts = export_labels(read_label_rows(resolve_label_paths(config.labels)), config.format, config.threshold)
    write_jsonl(config.out, rows)
    echo(f"wrote {counts['exported']} {config.format} rows to {config.out} (of {counts['responses']} responses: "
         f"{counts['cut']} cut before an unlabeled state, {counts['skipped']} with no labeled step skipped)")
    return config.out


def run_labels_import(config: LabelsImportConfig, echo: Callable[[str], None] = print) -> Path:
    """The `labels import` job: read `config.file` into a pavlab label file; returns it (`config.out`).

    `echo` gets one line with the number of labeled responses written.
    """
    rows = import_rows(config.file, config.format, config.neutral)
    path = write_label_rows(config.out, rows)
    echo(f"wrote {len(rows)} labeled responses to {path}")
    return path
