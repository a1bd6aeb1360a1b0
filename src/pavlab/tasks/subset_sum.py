"""Subset sum: take numbers, one per line, until they add up to the target.

Why this task: it is the testbed in the paper's regime (issue 15). A response has 5-7 steps,
each a choice among ~5 legal numbers, and a wrong choice often leaves a need that no subset of
the remaining numbers can meet (a dead end), which the exact oracle (`prefix_alive`, a subset-sum
check) detects. Unlike countdown, the state a step depends on sits where the policy acts: the
line before holds the amount still needed, and the only arithmetic is one subtraction, so a
1M-parameter policy learns the rules and its mistakes are choices, not slips.

Format. The question is the distinct numbers (ascending) and the target, e.g.
``3 8 12 17 21 25 30 38 -> 95``. A response takes one number per line and writes what is still
needed after it, optionally followed by the numbers still untaken::

    21 -> 74 | 3 8 12 17 25 30 38

A line ``x -> r`` is valid iff ``x`` is one of the numbers not yet taken and ``r`` equals the
need before it (the target, at the first line) minus ``x``, with ``r >= 0``; the annotation after
``|``, when present, must list the untaken numbers exactly (any order). It puts the state a tiny
policy needs next to where it acts (the testbed's traces write it). A response is correct
(Rex = 1) iff it has at least one line, every line is valid, and the last line's need is 0.
Problems are built so that no fewer than `min_take` numbers reach the target: every solution
has at least that many steps.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from itertools import combinations

from pavlab.errors import PavlabError
from pavlab.tasks.base import ANNOTATION_PATTERN, Problem, Task, numbers_problems, split_of

_LINE = re.compile(r"\s*([0-9]+)\s*->\s*([0-9]+)\s*" + ANNOTATION_PATTERN, re.ASCII)
_PROBLEM_ID = re.compile(r"subset_sum-([0-9]+(?:\.[0-9]+)*)-([0-9]+)", re.ASCII)
_DEFAULT_SPLIT_SIZE = {"train": 20000, "val": 1000, "test": 1000}


def _split_of(numbers: tuple[int, ...], target: int) -> str:
    return split_of("subset_sum:" + " ".join(map(str, numbers)) + f" -> {target}")


def parse_take(step: str) -> tuple[int, int, tuple[int, ...] | None] | None:
    """(number taken, need after it, annotation or None) that a line claims; None when the line is malformed."""
    match = _LINE.fullmatch(step)
    if match is None or len(step) > 1000:
        return None
    annotation = None if match.group(3) is None else tuple(int(x) for x in match.group(3).split())
    return int(match.group(1)), int(match.group(2)), annotation


@lru_cache(maxsize=500_000)
def reachable(numbers: tuple[int, ...], need: int) -> bool:
    """Exact oracle: does some subset of `numbers` (sorted ascending) sum to `need`?"""
    if need == 0:
        return True
    if not numbers or need < numbers[0] or need > sum(numbers):
        return False
    return reachable(numbers[1:], need - numbers[0]) or reachable(numbers[1:], need)


def first_broken_rule(numbers: list[int] | tuple[int, ...], target: int, steps: list[str]
                      ) -> tuple[tuple[int, ...], int, str | None]:
    """(numbers left, need) before the first invalid step (after all of them when none is), and the rule it
    breaks: "malformed", "number not available" (or "number above need" when it is also larger than the need),
    "wrong subtraction" or "wrong list"; None when every step is valid."""
    left, need = tuple(sorted(numbers)), target
    for step in steps:
        parsed = parse_take(step)
        if parsed is None:
            return left, need, "malformed"
        taken, after, annotation = parsed
        if taken not in left:
            return left, need, "number not available" if taken <= need else "number above need"
        if after != need - taken:
            return left, need, "wrong subtraction"
        rest = tuple(x for x in left if x != taken)
        if annotation is not None and sorted(annotation) != list(rest):
            return left, need, "wrong list"
        left, need = rest, after
    return left, need, None


def apply_takes(numbers: list[int] | tuple[int, ...], target: int, steps: list[str]
                ) -> tuple[tuple[int, ...], int] | None:
    """(numbers left, need) after `steps`, or None as soon as one step is invalid."""
    left, need, broken = first_broken_rule(numbers, target, steps)
    return None if broken else (left, need)


def steps_alive(numbers: list[int] | tuple[int, ...], target: int, steps: list[str]) -> bool:
    """Can the state after `steps` still end correct (every step valid, the need still reachable)?"""
    outcome = apply_takes(numbers, target, steps)
    return outcome is not None and reachable(*outcome)


def good_takes(left: tuple[int, ...], need: int) -> list[int]:
    """The numbers whose taking keeps the target reachable (all of them are legal)."""
    return [x for x in left if x <= need and reachable(tuple(y for y in left if y != x), need - x)]


@lru_cache(maxsize=500_000)
def solver_success(left: tuple[int, ...], need: int, good_move_prob: float) -> float:
    """Exact chance that the testbed's noisy solver (`policies.traces.subset_sum_trace`) ends correct from
    this state: it takes a number that keeps the target reachable with probability `good_move_prob` (when
    one exists), else any number that fits, each uniformly; it stops at need 0 or when nothing fits.

    Why: a graded prover with exact values, between a random player (0) and the 0/1 oracle (1)."""
    if need == 0:
        return 1.0
    good = good_takes(left, need)
    if not good:  # an unreachable need: every continuation fails
        return 0.0

    def mean_after(takes: list[int]) -> float:
        return sum(solver_success(tuple(y for y in left if y != x), need - x, good_move_prob)
                   for x in takes) / len(takes)

    legal = [x for x in left if x <= need]
    return good_move_prob * mean_after(good) + (1.0 - good_move_prob) * mean_after(legal)


def question_of_id(problem_id: str) -> tuple[tuple[int, ...], int] | None:
    """(numbers, target) that a subset-sum problem id ("subset_sum-3.8.12-20") encodes; None for other ids."""
    match = _PROBLEM_ID.fullmatch(problem_id)
    return None if match is None else (tuple(int(x) for x in match.group(1).split(".")), int(match.group(2)))


def solver_state_value(numbers: list[int] | tuple[int, ...], target: int, steps: list[str], ended: bool,
                       good_move_prob: float) -> float:
    """The solver's exact value of a labeled state: its success chance from there, or the outcome once the
    response has ended (a finished response is not continued; 0 once a step is invalid)."""
    outcome = apply_takes(numbers, target, steps)
    if outcome is None:
        return 0.0
    return float(outcome[1] == 0) if ended else solver_success(*outcome, float(good_move_prob))


class SubsetSumTask(Task):
    """Subset sum: take distinct numbers one per line, writing the need left, until it is 0."""

    name = "subset_sum"

    def __init__(self, n_numbers: int = 8, max_number: int = 20, min_take: int = 5, max_take: int = 6) -> None:
        if not 2 <= min_take <= max_take <= n_numbers:
            raise PavlabError(f"subset_sum needs 2 <= min_take <= max_take <= n_numbers "
                              f"(got {min_take}, {max_take}, {n_numbers})", field="task")
        if max_number < n_numbers:
            raise PavlabError(f"subset_sum needs max_number >= n_numbers for distinct numbers "
                              f"(got {max_number} < {n_numbers})", field="task.max_number")
        self.n_numbers, self.max_number, self.min_take, self.max_take = n_numbers, max_number, min_take, max_take

    def options(self) -> dict[str, int]:
        """Constructor arguments, so a saved testbed can rebuild the same task."""
        return {"n_numbers": self.n_numbers, "max_number": self.max_number, "min_take": self.min_take,
                "max_take": self.max_take}

    @property
    def max_target(self) -> int:
        """The largest target a problem can have (the sum of the `max_take` largest numbers)."""
        return sum(range(self.max_number - self.max_take + 1, self.max_number + 1))

    def _random_problem(self, rng: random.Random) -> tuple[tuple[int, ...], int] | None:
        """Numbers and the sum of a random `min_take`..`max_take` subset; None when fewer numbers reach it."""
        numbers = tuple(sorted(rng.sample(range(1, self.max_number + 1), self.n_numbers)))
        target = sum(rng.sample(numbers, rng.randint(self.min_take, self.max_take)))
        for size in range(1, self.min_take):
            if any(sum(subset) == target for subset in combinations(numbers, size)):
                return None
        return numbers, target

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        rng = random.Random(f"subset_sum/{self.n_numbers}/{self.max_number}/{self.min_take}/{self.max_take}/"
                            f"{split}/{seed}")
        return numbers_problems("subset_sum", split, _DEFAULT_SPLIT_SIZE.get(split, 0) if n is None else n, rng,
                                self._random_problem, _split_of)

    def extract_answer(self, response: str) -> str | None:
        """The sum of the numbers the well-formed lines take (equal to the target when correct)."""
        steps = self.split_steps(response)
        taken = [parsed[0] for parsed in map(parse_take, steps) if parsed is not None]
        return str(sum(taken)) if taken else None

    def is_correct(self, response: str, problem: Problem) -> bool:
        steps = self.split_steps(response)
        if not steps:
            return False
        outcome = apply_takes(problem.meta["numbers"], problem.meta["target"], steps)
        return outcome is not None and outcome[1] == 0

    def state_of_prompt(self, prompt: str) -> tuple[tuple[int, ...], int]:
        """(numbers, target) a prompt shows ("3 7 12 -> 22"), so a procedural policy needs no lookup table."""
        numbers, arrow, target = prompt.partition("->")
        parts = numbers.split()
        if not arrow or not target.strip().isdigit() or not parts or not all(p.isdigit() for p in parts):
            raise PavlabError(f"not a subset_sum prompt (expected 'N N ... -> TARGET'): {prompt[:80]!r}",
                              field="prompt")
        return tuple(int(p) for p in parts), int(target)

    def prefix_alive(self, problem: Problem, steps: list[str]) -> bool:
        """Exact value of a prefix under a perfect continuation: can it still end correct?"""
        return steps_alive(problem.meta["numbers"], problem.meta["target"], steps)

    def prefix_solver_value(self, problem: Problem, steps: list[str], good_move_prob: float) -> float:
        """Exact value of a prefix under the noisy solver's continuation (0 once a step is invalid)."""
        return solver_state_value(problem.meta["numbers"], problem.meta["target"], steps, False, good_move_prob)
