"""How an RL study measures its final policies beyond the learning curve: Pass@N, and hard problems solved by search.

Why a module: the paper judges RL policies not only by accuracy but by what they make possible
at test time — Pass@N (is the right answer anywhere among N samples?) and whether the policy
plus PAV beam search solves problems the start policy cannot solve even with best-of-256. These
evaluations are costly (hundreds of samples per problem), so the studies cache each one
(`pavlab.cache.cached_json`, keyed by `weights_fingerprint` and the settings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pavlab.metrics import pass_at_k
from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.sampling import sample_responses
from pavlab.search.beam import beam_search
from pavlab.search.scorers import StepScorer
from pavlab.shards import chunk_seed
from pavlab.tasks.base import Problem, Task

SAMPLES_PER_CALL = 4096  # responses per batched sampling call: bounds the KV cache of a 256-sample screen


def weights_fingerprint(policy_dir: Path) -> str:
    """Hash of a checkpoint's weight files: a cache key that follows the weights, not the folder's mtime."""
    digest = hashlib.sha256()
    for file in sorted(Path(policy_dir).glob("*.safetensors")):
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def correct_counts(task: Task, policy: PolicyBackend, problems: Sequence[Problem], samples: int,
                   params: SamplingParams) -> list[int]:
    """Correct responses (the exact outcome check) among `samples` i.i.d. samples of each problem.

    Problems are sampled in batches of at most SAMPLES_PER_CALL responses; batch b uses seed
    `chunk_seed(params.seed, b)`, so counts depend only on the problems, `samples` and the seed.
    """
    per_call = max(1, SAMPLES_PER_CALL // samples)
    counts: list[int] = []
    for batch, start in enumerate(range(0, len(problems), per_call)):
        seed = None if params.seed is None else chunk_seed(params.seed, batch)
        rows = sample_responses(task, policy, list(problems[start:start + per_call]), samples,
                                SamplingParams(params.temperature, params.top_p, params.max_new_tokens, seed=seed))
        for index in range(len(rows) // samples):
            counts.append(sum(bool(row["correct"]) for row in rows[index * samples:(index + 1) * samples]))
    return counts


def pass_at_n_curve(counts: Sequence[int], samples: int, budgets: Sequence[int]) -> list[float]:
    """Mean over problems of the unbiased pass@N from `samples` samples with counts[i] correct, for each N."""
    return [float(np.mean([pass_at_k(samples, count, n) for count in counts])) for n in budgets]


def seed_spread(per_seed: Mapping[Any, Sequence[float]]) -> dict[str, list[float]]:
    """Pointwise mean, min and max over seeds of equally long curves."""
    values = np.asarray(list(per_seed.values()), dtype=float)
    return {"mean": values.mean(axis=0).tolist(), "min": values.min(axis=0).tolist(),
            "max": values.max(axis=0).tolist()}


def unsolved(problem_ids: Sequence[str], counts: Sequence[int]) -> list[str]:
    """Problems with no correct sample at all: the ones best-of-`samples` (even with an oracle pick) fails."""
    return [pid for pid, count in zip(problem_ids, counts, strict=True) if count == 0]


def solved_among(hard: Sequence[str], rows: Sequence[Mapping[str, Any]], field: str = "correct") -> int:
    """How many of the `hard` problems a search solved (`field`: 'correct' = its pick, 'pass_at_n' = any response)."""
    solved = {row["problem_id"] for row in rows if row[field]}
    return len(solved & set(hard))


def beam_rows(task: Task, policy: PolicyBackend, scorer: StepScorer, problems: list[Problem], width: int,
              params: SamplingParams, candidates: int, max_depth: int) -> list[dict[str, Any]]:
    """Beam search on `problems`: per problem whether the pick is correct and whether any final beam is."""
    if not problems:
        return []
    batch = beam_search(task, policy, scorer, problems, width, params, candidates=candidates, max_depth=max_depth)
    return [{"problem_id": o.problem_id, "correct": o.correct, "pass_at_n": o.pass_at_n} for o in batch.outcomes]
