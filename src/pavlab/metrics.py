"""Sample-file metrics: unbiased pass@k and majority vote maj@k."""

from __future__ import annotations

import random
from collections import Counter
from math import comb
from pathlib import Path
from typing import Any

from pavlab.errors import PavlabError
from pavlab.io import iter_jsonl


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority_at_k(answers: list[str | None], correct: list[bool], k: int, trials: int = 32,
                  seed: int = 0) -> float:
    """Expected accuracy of voting over k random samples (ties broken by first seen; None never wins)."""
    if k > len(answers):
        raise ValueError(f"maj@{k} needs at least {k} samples, got {len(answers)}")
    answer_correct = {a: ok for a, ok in zip(answers, correct, strict=True) if a is not None}
    rng = random.Random(seed)
    indices = list(range(len(answers)))
    draws = 1 if k == len(answers) else trials
    hits = 0.0
    for _ in range(draws):
        chosen = rng.sample(indices, k) if draws > 1 else indices
        votes = Counter(answers[i] for i in chosen if answers[i] is not None)
        if votes:
            hits += answer_correct[votes.most_common(1)[0][0]]
    return hits / draws


def powers_of_two_up_to(n: int) -> list[int]:
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


def summarize_samples(rows: list[dict]) -> dict[str, float]:
    """pass@k and maj@k for k = 1, 2, 4 .. n over rows grouped by problem_id (n = fewest samples)."""
    by_problem: dict[str, list[dict]] = {}
    for row in rows:
        by_problem.setdefault(str(row["problem_id"]), []).append(row)
    if not by_problem:
        return {"problems": 0}
    n = min(len(group) for group in by_problem.values())
    summary: dict[str, float] = {"problems": len(by_problem), "samples_per_problem": n}
    for k in powers_of_two_up_to(n):
        summary[f"pass@{k}"] = sum(pass_at_k(len(g), sum(bool(r["correct"]) for r in g), k)
                                   for g in by_problem.values()) / len(by_problem)
    for k in powers_of_two_up_to(n):
        summary[f"maj@{k}"] = sum(majority_at_k([r.get("answer") for r in g], [bool(r["correct"]) for r in g], k)
                                  for g in by_problem.values()) / len(by_problem)
    tokens = [r.get("generated_tokens", 0) for group in by_problem.values() for r in group]
    summary["mean_generated_tokens"] = sum(tokens) / len(tokens)
    steps = [len(r["steps"]) for group in by_problem.values() for r in group if isinstance(r.get("steps"), list)]
    if steps:
        summary["mean_steps"] = sum(steps) / len(steps)
    return summary


def load_samples(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a sample file, type-checked: a stray "yes" in `correct` would otherwise count as correct."""
    rows = []
    for line, row in iter_jsonl(path, required=("problem_id", "correct")):
        problem_id, answer, tokens = row["problem_id"], row.get("answer"), row.get("generated_tokens", 0)
        if isinstance(problem_id, bool) or not isinstance(problem_id, (str, int)):
            raise PavlabError("must be a string or an integer", path=path, line=line, field="problem_id")
        if not isinstance(row["correct"], bool):
            raise PavlabError(f"must be true or false, got {row['correct']!r}", path=path, line=line, field="correct")
        if answer is not None and not isinstance(answer, str):
            raise PavlabError("must be a string or null", path=path, line=line, field="answer")
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise PavlabError(f"must be a non-negative integer, got {tokens!r}", path=path, line=line,
                              field="generated_tokens")
        rows.append(row)
    if not rows:
        raise PavlabError("holds no samples (expected one JSON object per line, as `pavlab sample` writes)", path=path)
    return rows
