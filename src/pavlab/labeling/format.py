"""The label row: the one file format between labeling and everything that learns from labels.

A label file is JSONL with one row per seed response; a folder of `*.jsonl` shards is read in
name order, and a `pavlab label` run folder stands for its `labels/` shards. A row:

| field | type | meaning |
|---|---|---|
| `problem_id` | str | the task problem the response answers |
| `prompt` | str | the prompt the policy saw |
| `steps` | list[str] | the response cut into steps (H steps) |
| `correct` | bool | the outcome Rex of the full response |
| `q_hat` | list[float or null], H+1 | Monte Carlo Q at the state after h steps (0: bare prompt, null: not labeled) |
| `n_success`, `n_rollouts` | list[int or null], H+1, optional | counts behind each q_hat (given together) |
| `policy` | str, optional | the policy that rolled out the continuations (a prover, or pi) |
| `seed_policy` | str, optional | pi, the policy that wrote the response |
| `origin` | `random` or `first_pit`, optional | how the response was seeded (default `random`) |
| `branch`, `seed`, `seed_index` | int, optional | first sampled prefix, run seed, index among its seeds |

The first five fields are required; with counts, `q_hat = n_success / n_rollouts` must hold.
Rows are validated strictly on read, because a mislabeled prefix silently trains a wrong
verifier; errors name the file, line and field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pavlab.errors import PavlabError
from pavlab.io import iter_jsonl, write_jsonl
from pavlab.shards import ShardedJsonl

if TYPE_CHECKING:
    from pavlab.labeling.seeding import Seed

LABELS_DIR = "labels"
"""The folder of label shards inside a `pavlab label` run folder."""
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
    origin: str = "random"
    policy: str | None = None  # the rollout policy, when the row records it


# -- writing ------------------------------------------------------------------------------------------


def label_row(seed: Seed, prompt: str, *, policy: str, seed_policy: str, run_seed: int,
              seed_index: int) -> dict[str, Any]:
    """The row of one labeled seed response, with every field of the schema."""
    labels = seed.labels
    return {"problem_id": seed.problem.id, "prompt": prompt, "steps": seed.steps, "correct": seed.correct,
            "q_hat": [None if q is None else q.q_hat for q in labels],
            "n_success": [None if q is None else q.successes for q in labels],
            "n_rollouts": [None if q is None else q.rollouts for q in labels],
            "policy": policy, "seed_policy": seed_policy,
            "origin": seed.origin, "branch": seed.branch, "seed": run_seed, "seed_index": seed_index}


def label_shards(run_dir: str | Path) -> ShardedJsonl:
    """The resumable shards a `pavlab label` run writes into its folder."""
    return ShardedJsonl(Path(run_dir) / LABELS_DIR)


def write_label_rows(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Validate rows and write them as one label file (atomically); a bad row writes nothing."""
    path = Path(path)
    rows = list(rows)
    for line, row in enumerate(rows, start=1):
        for key in REQUIRED_FIELDS:
            if key not in row:
                raise PavlabError("missing", path=path, line=line, field=key)
        validate_row(row, path, line)
    write_jsonl(path, rows)
    return path


# -- reading ------------------------------------------------------------------------------------------


def resolve_label_path(path: str | Path) -> Path:
    """A `pavlab label` run folder stands for its `labels/` shards; files and shard folders pass through."""
    shards = Path(path) / LABELS_DIR
    return shards if shards.is_dir() else Path(path)


def resolve_label_paths(paths: Iterable[str | Path]) -> list[Path]:
    return [resolve_label_path(path) for path in paths]


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
                           n_rollouts=row.get("n_rollouts"), origin=str(row.get("origin", "random")),
                           policy=row.get("policy"))


def read_label_rows(paths: Iterable[str | Path]) -> list[LabeledResponse]:
    """All validated rows of the given label files and shard folders (not run folders: resolve those first)."""
    return [validate_row(row, path, line)
            for path in label_files(paths)
            for line, row in iter_jsonl(path, required=REQUIRED_FIELDS)]
