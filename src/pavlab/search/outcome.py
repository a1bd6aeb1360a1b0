"""What one search returns per problem, and the budget checks every method shares.

Compute is charged where it is spent: `generated_tokens` and `samples` are counted exactly per
problem from the completions; costs shared by a batched call (prompt prefill, verifier passes)
are only known per batch and come from the backend's meter (`SearchBatch.compute`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pavlab.errors import PavlabError
from pavlab.tasks.base import Problem, Task


@dataclass
class SearchOutcome:
    """The explored set of one problem (N samples, or the B final beams), the pick and its cost."""

    problem_id: str
    responses: list[str]
    scores: list[float]
    chosen: int | None
    answer: str | None
    correct: bool
    pass_at_n: bool
    generated_tokens: int
    samples: int
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchBatch:
    """Outcomes of one batched search call plus the meter's delta over the whole call."""

    outcomes: list[SearchOutcome]
    compute: dict[str, int]


def make_outcome(task: Task, problem: Problem, responses: list[str], scores: list[float], chosen: int | None,
                 generated_tokens: int, samples: int) -> SearchOutcome:
    """Grade the pick and the explored set with the task's exact outcome check."""
    correct_flags = [task.is_correct(response, problem) for response in responses]
    picked = responses[chosen] if chosen is not None else None
    return SearchOutcome(problem_id=problem.id, responses=responses, scores=scores, chosen=chosen,
                         answer=task.extract_answer(picked) if picked is not None else None,
                         correct=bool(chosen is not None and correct_flags[chosen]), pass_at_n=any(correct_flags),
                         generated_tokens=generated_tokens, samples=samples)


def check_budget(n: int, candidates: int = 1, max_depth: int = 1) -> None:
    """N (samples, or beam width), C (next steps per beam) and the depth limit must all be positive."""
    for name, value in (("n", n), ("candidates", candidates), ("max_depth", max_depth)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PavlabError(f"{name} must be a positive integer, got {value!r}", field=name)
