"""The task interface: problems, prompts, step splitting and the outcome check `Rex`.

A response is a list of steps joined by `step_separator` (newline by default). The text of the
state after step h is `prefix_text(steps[:h])`: each step followed by the separator, so a
policy asked for "the next step" stops right after it emits the separator.
"""

from __future__ import annotations

import hashlib
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SPLITS = ("train", "val", "test")
# Fractions of a stable hash space owned by each split (train 80%, val 10%, test 10%), so generated
# tasks never share a problem between splits whatever the seed.
SPLIT_BUCKETS = {"train": range(0, 80), "val": range(80, 90), "test": range(90, 100)}


def split_of(key: str) -> str:
    """The split a generated problem belongs to, from a stable hash of its key."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100
    return next(split for split, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


# A generator's draw: (numbers, target), or None when the draw is rejected.
NumbersDraw = Callable[[random.Random], "tuple[tuple[int, ...], int] | None"]


# The optional "| n1 n2 ..." annotation after a move: the numbers still untaken, captured as one group ("" when
# the bar has none). Its numbers are separated by \s+, not \s*: with \s* a run of digits can be split between
# repetitions in exponentially many ways, and a 40-digit line that failed to match hung the parser (an RL
# policy wrote one).
ANNOTATION_PATTERN = r"(?:\|\s*((?:[0-9]+(?:\s+[0-9]+)*)?)\s*)?"
_NUMBERS_QUESTION = re.compile(r"\s*((?:[0-9]+\s+)*[0-9]+)\s*->\s*([0-9]+)\s*")


def parse_numbers_question(text: str) -> tuple[list[int], int] | None:
    """(numbers, target) of a "3 7 12 25 -> 24" question, or None when the text is not one."""
    match = _NUMBERS_QUESTION.fullmatch(text)
    return None if match is None else ([int(x) for x in match.group(1).split()], int(match.group(2)))


def numbers_problems(task: str, split: str, n: int, rng: random.Random, draw: NumbersDraw,
                     split_for: Callable[[tuple[int, ...], int], str]) -> list[Problem]:
    """The first `n` distinct "numbers -> target" problems that `draw` yields and `split_for` puts in `split`.

    Why shared: countdown and subset_sum pose problems the same way (question "3 7 12 -> 24",
    id "TASK-3.7.12-24"); only what they draw and how they hash a problem to a split differ.
    """
    from pavlab.errors import PavlabError

    if split not in SPLITS:
        raise PavlabError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})")
    found: dict[str, Problem] = {}
    attempts = 0
    while len(found) < n:
        attempts += 1
        if attempts > 1000 * (n + 10):
            raise PavlabError(f"could not generate {n} distinct {task} problems for split '{split}' with these "
                              "task options")
        drawn = draw(rng)
        if drawn is None or split_for(*drawn) != split:
            continue
        numbers, target = drawn
        question = " ".join(map(str, numbers)) + f" -> {target}"
        pid = f"{task}-" + question.replace(" -> ", "-").replace(" ", ".")
        found.setdefault(pid, Problem(id=pid, question=question, answer=str(target),
                                      meta={"numbers": list(numbers), "target": target}))
    return list(found.values())


@dataclass(frozen=True)
class Problem:
    """One problem: `question` is shown to the policy, `answer` is the reference y*."""

    id: str
    question: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class Task(ABC):
    """A family of problems with an exact outcome check."""

    name: str = ""
    step_separator: str = "\n"

    @abstractmethod
    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        """The first `n` problems of `split` (all when None); generated tasks are seeded by `seed`."""

    def prompt(self, problem: Problem) -> str:
        """The text given to the policy (before any chat template)."""
        return problem.question

    def split_steps(self, response: str) -> list[str]:
        """Steps of a response, without separators; blank steps are dropped."""
        return [s for s in response.split(self.step_separator) if s.strip()]

    def prefix_text(self, steps: list[str]) -> str:
        """Response text of the state after `steps`; each step ends with the separator."""
        return "".join(step + self.step_separator for step in steps)

    @abstractmethod
    def extract_answer(self, response: str) -> str | None:
        """The final answer in a response, or None when there is none."""

    @abstractmethod
    def is_correct(self, response: str, problem: Problem) -> bool:
        """The outcome check Rex(y, y*); never raises on arbitrary (adversarial) text."""
