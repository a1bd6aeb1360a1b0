"""Label files in, training examples out.

A label file (JSONL; a folder of shards is read in name order) has one row per seed response
with `q_hat[h]`, the Monte Carlo estimate of Q at the state after step h (index 0: bare prompt,
null: not labeled). Rows are validated strictly, because a mislabeled prefix silently trains a
wrong verifier; errors name the file, line and field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pavlab.errors import PavlabError
from pavlab.io import iter_jsonl
from pavlab.verifiers.model import VerifierKind
from pavlab.verifiers.positions import build_scoring_inputs

REQUIRED_FIELDS = ("problem_id", "prompt", "steps", "correct", "q_hat")
COUNT_TOLERANCE = 1e-6


@dataclass
class LabeledResponse:
    """One validated label row."""

    problem_id: str
    prompt: str
    steps: list[str]
    correct: bool
    q_hat: list[float | None]
    n_rollouts: list[int | None] | None = None  # rollouts behind each q_hat, when the row records them


@dataclass
class TrainingExample:
    """Token ids of one response and the soft targets at its labeled scoring positions."""

    input_ids: list[int]
    positions: list[int]
    targets: list[float]


def label_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their `*.jsonl` shards (sorted); a missing path is an error."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            shards = sorted(path.glob("*.jsonl"))
            if not shards:
                raise PavlabError("folder holds no *.jsonl label shards", path=path)
            files.extend(shards)
        elif path.is_file():
            files.append(path)
        else:
            raise PavlabError("label file not found", path=path)
    return files


def _check_counts(row: dict[str, Any], q_hat: list[float | None], path: Path, line: int) -> None:
    """n_success/n_rollouts, when given, must align with q_hat and reproduce it."""
    columns = {}
    for name in ("n_success", "n_rollouts"):
        value = row.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) != len(q_hat):
            raise PavlabError(f"must be a list of length {len(q_hat)} (like q_hat)", path=path, line=line,
                              field=name)
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0) for v in value):
            raise PavlabError("entries must be non-negative integers or null", path=path, line=line, field=name)
        columns[name] = value
    if len(columns) == 1:
        raise PavlabError("n_success and n_rollouts must be given together", path=path, line=line,
                          field=next(iter(columns)))
    if not columns:
        return
    for h, (succ, total, q) in enumerate(zip(columns["n_success"], columns["n_rollouts"], q_hat, strict=True)):
        if (succ is None) != (total is None):
            raise PavlabError(f"index {h}: n_success and n_rollouts must both be null or both set", path=path,
                              line=line, field="n_success")
        if succ is None:
            continue
        if succ > total:
            raise PavlabError(f"index {h}: {succ} successes out of {total} rollouts", path=path, line=line,
                              field="n_success")
        if total == 0 or q is None or abs(q - succ / total) > COUNT_TOLERANCE:
            raise PavlabError(f"index {h}: q_hat {q} does not equal n_success/n_rollouts = {succ}/{total}",
                              path=path, line=line, field="q_hat")


def validate_row(row: dict[str, Any], path: Path, line: int) -> LabeledResponse:
    """One label row as a LabeledResponse, or a one-line PavlabError naming the bad field."""
    steps = row["steps"]
    if not isinstance(steps, list) or not all(isinstance(step, str) for step in steps):
        raise PavlabError("must be a list of strings", path=path, line=line, field="steps")
    if not isinstance(row["prompt"], str):
        raise PavlabError("must be a string", path=path, line=line, field="prompt")
    if not isinstance(row["correct"], bool):
        raise PavlabError("must be true or false", path=path, line=line, field="correct")
    q_hat = row["q_hat"]
    if not isinstance(q_hat, list) or len(q_hat) != len(steps) + 1:
        raise PavlabError(f"must be a list of length len(steps)+1 = {len(steps) + 1}", path=path, line=line,
                          field="q_hat")
    for h, q in enumerate(q_hat):
        if q is None:
            continue
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q) or not 0.0 <= q <= 1.0:
            raise PavlabError(f"index {h}: {q!r} is not a probability in [0, 1] or null", path=path, line=line,
                              field="q_hat")
    _check_counts(row, q_hat, path, line)
    return LabeledResponse(problem_id=str(row["problem_id"]), prompt=row["prompt"], steps=steps,
                           correct=row["correct"], q_hat=[None if q is None else float(q) for q in q_hat],
                           n_rollouts=row.get("n_rollouts"))


def load_labels(paths: Iterable[str | Path]) -> list[LabeledResponse]:
    """All validated rows of the given label files and shard folders."""
    return [validate_row(row, path, line)
            for path in label_files(paths)
            for line, row in iter_jsonl(path, required=REQUIRED_FIELDS)]


def build_examples(responses: Sequence[LabeledResponse], tokenizer: Any, kind: VerifierKind,
                   separator: str = "\n", max_length: int | None = None) -> list[TrainingExample]:
    """Tokenize responses and attach targets: q_hat at every labeled state (prm/pav) or Rex at the end (orm).

    Sequences longer than `max_length` are cut and lose the positions past the cut; a response
    left with no labeled position is dropped.
    """
    examples = []
    for response in responses:
        ids, positions = build_scoring_inputs(tokenizer, response.prompt, response.steps, separator)
        if kind == "orm":
            labeled = [(positions[-1], float(response.correct))]
        else:
            labeled = [(pos, q) for pos, q in zip(positions, response.q_hat, strict=True) if q is not None]
        if max_length is not None:
            ids = ids[:max_length]
            labeled = [(pos, q) for pos, q in labeled if pos < max_length]
        if labeled:
            examples.append(TrainingExample(ids, [pos for pos, _ in labeled], [q for _, q in labeled]))
    return examples
