"""Step scorers: one interface, so every search method can rank steps by any process score.

A scorer maps responses (as step lists) to a score per step plus a final value for the whole
response. The PAV scores of the paper are three readings of one `ProcessVerifier` call: "q"
(Q^pi of the state after the step), "a" (A^mu of the step, the prover's progress) and "q+a"
(Q^pi + alpha * A^mu, the effective reward). The oracle scorer gives the exact value of a
countdown prefix, so search itself can be tested without a trained verifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

import numpy as np

from pavlab.errors import PavlabError
from pavlab.policies.base import ComputeMeter
from pavlab.tasks.base import Problem, Task
from pavlab.verifiers.progress import effective_rewards
from pavlab.verifiers.step_scores import ProcessVerifier

ScoreName = Literal["q", "a", "q+a", "oracle"]
Aggregate = Literal["last", "min", "prod"]
SCORE_NAMES: tuple[str, ...] = get_args(ScoreName)
AGGREGATES: tuple[str, ...] = get_args(Aggregate)


@dataclass(frozen=True)
class ResponseScores:
    """`steps[h-1]` scores step h (h = 1..H); `values[h-1]` is the value (Q^pi, or the oracle's) of the state
    after step h, what a "q" ranking would read; `final` is the outcome value of the whole response (an ORM's view)."""

    steps: np.ndarray
    final: float
    values: np.ndarray


class StepScorer(Protocol):
    """Anything that scores every step of many responses in one batched call.

    To plug in another process reward model, implement `name` (shown in results) and `score`,
    returning for each response its H step scores (higher = better step), the value of the state
    after each step (a PRM that scores steps only can pass its step scores again) and one final
    value for the whole response. Best-of-N, weighted vote and beam search need nothing else.
    A scorer that can reuse work when a call's responses extend the previous call's by one step
    (every depth of a beam search) may also offer `reusing_prefixes()`, a context manager, and
    `retain_prefixes(problems, steps_lists)`, told which responses the next call extends; see the
    functions of the same names below.
    """

    name: str

    def score(self, problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]],
              meter: ComputeMeter | None = None) -> list[ResponseScores]:
        """One `ResponseScores` per response; verifier compute is charged to `meter`."""
        ...


class VerifierScorer:
    """Reads "q", "a" or "q+a" off a `ProcessVerifier`; the final value is always Q^pi of the last state."""

    def __init__(self, verifier: ProcessVerifier, task: Task, score: str, alpha: float = 0.5) -> None:
        if score not in ("q", "a", "q+a"):
            raise PavlabError(f"unknown verifier score '{score}' (expected q, a or q+a)", field="score")
        self.verifier, self.task, self.name, self.alpha = verifier, task, score, alpha

    def score(self, problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]],
              meter: ComputeMeter | None = None) -> list[ResponseScores]:
        prompts = [self.task.prompt(problem) for problem in problems]
        results = self.verifier.score(prompts, steps_lists, meter)
        readings = {"q": lambda s: s.q_pi[1:], "a": lambda s: s.advantages,
                    "q+a": lambda s: effective_rewards(s.q_pi, s.q_mu, self.alpha)}
        read = readings[self.name]
        return [ResponseScores(np.asarray(read(s), dtype=np.float64), float(s.q_pi[-1]),
                               np.asarray(s.q_pi[1:], dtype=np.float64)) for s in results]

    def reusing_prefixes(self) -> AbstractContextManager[None]:
        return self.verifier.reusing_prefixes()

    def retain_prefixes(self, problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]]) -> None:
        self.verifier.retain_prefixes([self.task.prompt(problem) for problem in problems], steps_lists)


class OracleScorer:
    """Exact ground truth on tasks with an oracle (countdown, subset_sum): a step scores 1 iff its prefix can still
    win."""

    name = "oracle"

    def __init__(self, task: Task) -> None:
        if not callable(getattr(task, "prefix_alive", None)):
            raise PavlabError("the oracle scorer needs a task with an exact oracle (countdown, subset_sum), "
                              f"not '{task.name}'", field="score")
        self.task = task

    def score(self, problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]],
              meter: ComputeMeter | None = None) -> list[ResponseScores]:
        alive = self.task.prefix_alive  # type: ignore[attr-defined]
        results = []
        for problem, steps in zip(problems, steps_lists, strict=True):
            values = np.array([float(alive(problem, list(steps[:h]))) for h in range(1, len(steps) + 1)])
            results.append(ResponseScores(values, float(self.task.is_correct(self.task.prefix_text(list(steps)),
                                                                             problem)), values))
        return results


def reusing_prefixes(scorer: StepScorer) -> AbstractContextManager[None]:
    """The scorer's own prefix reuse for a block of calls that each extend the last (beam search), if it has one."""
    reuse = getattr(scorer, "reusing_prefixes", None)
    return reuse() if reuse is not None else nullcontext()


def retain_prefixes(scorer: StepScorer, problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]]) -> None:
    """Tell a prefix-reusing scorer which responses the next call extends, so it frees the rest (if it can)."""
    retain = getattr(scorer, "retain_prefixes", None)
    if retain is not None:
        retain(problems, steps_lists)


def build_scorer(score: str, task: Task, verifier: ProcessVerifier | None = None,
                 alpha: float = 0.5) -> StepScorer:
    """The scorer a config names: "oracle", or "q" / "a" / "q+a" read from `verifier`."""
    if score == "oracle":
        return OracleScorer(task)
    if score not in SCORE_NAMES:
        raise PavlabError(f"unknown scorer '{score}' (expected one of {', '.join(SCORE_NAMES)})", field="score")
    if verifier is None:
        raise PavlabError(f"score '{score}' needs a verifier (set --verifier DIR)", field="verifier")
    return VerifierScorer(verifier, task, score, alpha)


def aggregate(step_scores: np.ndarray, how: str) -> float:
    """One number per response from its step scores; a response with no steps ranks below any other."""
    if how not in AGGREGATES:
        raise PavlabError(f"unknown aggregate '{how}' (expected one of {', '.join(AGGREGATES)})", field="aggregate")
    if len(step_scores) == 0:
        return float("-inf")
    if how == "last":
        return float(step_scores[-1])
    if how == "min":
        return float(np.min(step_scores))
    return float(np.prod(step_scores))
