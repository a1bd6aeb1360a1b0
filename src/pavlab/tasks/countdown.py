"""Countdown: combine the given numbers with + - * / to reach a target, one operation per step.

Why this task: every prefix has an exact value under the optimal prover (`prefix_alive`, by
exhaustive search), so Q-value labels and verifiers can be checked against ground truth, and a
tiny policy trained on noisy solver traces needs search to do well.

Format. The question is the numbers and the target, e.g. ``3 7 12 25 -> 24``. A response is one
operation per line::

    12 + 7 = 19 | 3 19 25

Each line ``a op b = c`` uses two numbers that are still available (a multiset: the inputs plus
earlier results, minus what earlier lines used); ``c`` becomes available. All numbers are positive
integers: subtraction needs ``a > b``, division must be exact. The optional annotation after
``|`` lists the numbers available after the line (any order; traces write them ascending); it
lets a small model see the state, and when present it must match exactly or the line is invalid.
A response is correct (Rex = 1) iff it has at least one line, every line is valid, and the last
line's result equals the target.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from pavlab.errors import PavlabError
from pavlab.tasks.base import ANNOTATION_PATTERN, Problem, Task, numbers_problems, split_of

OPERATORS = ("+", "-", "*", "/")
_LINE = re.compile(r"\s*([0-9]+)\s*([-+*/])\s*([0-9]+)\s*=\s*([0-9]+)\s*" + ANNOTATION_PATTERN, re.ASCII)
# Size of a split when `problems(split, None)` asks for "all" of a generated, unbounded task.
_DEFAULT_SPLIT_SIZE = {"train": 5000, "val": 500, "test": 500}


@dataclass(frozen=True)
class Move:
    """One operation ``a op b = result``."""

    a: int
    op: str
    b: int
    result: int

    def text(self, remaining: tuple[int, ...] | None = None) -> str:
        """The step line, annotated with the numbers left after it (in the given order) when `remaining` is given."""
        line = f"{self.a} {self.op} {self.b} = {self.result}"
        return line if remaining is None else line + " | " + " ".join(map(str, remaining))


def apply_op(a: int, op: str, b: int) -> int | None:
    """The result of ``a op b`` under the countdown rules, or None when the operation is not allowed."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b if a > b else None
    if op == "*":
        return a * b
    if op == "/":
        return a // b if b > 0 and a % b == 0 else None
    return None


def valid_moves(numbers: tuple[int, ...]) -> Iterator[Move]:
    """Every allowed move on a multiset of numbers (each ordered pair of distinct slots, each op), deduplicated."""
    seen: set[tuple[int, str, int]] = set()
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i == j:
                continue
            for op in OPERATORS:
                if (a, op, b) in seen or (op in "+*" and a < b):
                    continue
                seen.add((a, op, b))
                result = apply_op(a, op, b)
                if result is not None:
                    yield Move(a, op, b, result)


def after_move(numbers: tuple[int, ...], move: Move) -> tuple[int, ...]:
    """The sorted multiset left after `move` (its operands removed, its result added)."""
    left = list(numbers)
    left.remove(move.a)
    left.remove(move.b)
    return tuple(sorted([*left, move.result]))


@lru_cache(maxsize=200_000)
def _solvable_sorted(numbers: tuple[int, ...], target: int) -> bool:
    for move in valid_moves(numbers):
        if move.result == target or _solvable_sorted(after_move(numbers, move), target):
            return True
    return False


def solvable(numbers: list[int] | tuple[int, ...], target: int) -> bool:
    """Exact oracle: can at least one more line be written so that the last result equals `target`?"""
    return _solvable_sorted(tuple(sorted(numbers)), target)


def parse_step(step: str) -> tuple[Move, tuple[int, ...] | None] | None:
    """The move a line claims and its annotation (None when absent); None when the line is malformed."""
    match = _LINE.fullmatch(step)
    if match is None:
        return None
    try:
        a, b, result = int(match.group(1)), int(match.group(3)), int(match.group(4))
        annotation = None if match.group(5) is None else tuple(int(x) for x in match.group(5).split())
    except ValueError:  # more digits than Python converts to int
        return None
    return Move(a, match.group(2), b, result), annotation


def apply_steps(numbers: list[int] | tuple[int, ...], steps: list[str]) -> tuple[tuple[int, ...], int | None] | None:
    """(numbers left, last result) after `steps`, or None as soon as one step is invalid."""
    state = tuple(sorted(numbers))
    last = None
    for step in steps:
        parsed = parse_step(step)
        if parsed is None:
            return None
        move, annotation = parsed
        if apply_op(move.a, move.op, move.b) != move.result:
            return None
        available = Counter(state)
        available.subtract([move.a, move.b])
        if min(available.values(), default=0) < 0:
            return None
        state = after_move(state, move)
        if annotation is not None and sorted(annotation) != list(state):
            return None
        last = move.result
    return state, last


def _split_of(numbers: tuple[int, ...], target: int) -> str:
    return split_of(" ".join(map(str, sorted(numbers))) + f" -> {target}")


class CountdownTask(Task):
    """Countdown: reach the target from the given numbers with + - * /, one operation per line."""

    name = "countdown"

    def __init__(self, n_numbers: int = 4, max_number: int = 25, max_target: int | None = None) -> None:
        if not 2 <= n_numbers <= 6:
            raise PavlabError(f"countdown needs 2 to 6 numbers (got n_numbers={n_numbers}; the exact oracle "
                              "searches every order of operations)", field="task.n_numbers")
        if max_number < 2:
            raise PavlabError(f"countdown needs max_number >= 2 (got {max_number})")
        self.n_numbers = n_numbers
        self.max_number = max_number
        self.max_target = max_target if max_target is not None else n_numbers * max_number
        if self.max_target < 2:
            raise PavlabError(f"countdown needs max_target >= 2 (got {self.max_target})")

    def options(self) -> dict[str, int]:
        """Constructor arguments, so a saved testbed can rebuild the same task."""
        return {"n_numbers": self.n_numbers, "max_number": self.max_number, "max_target": self.max_target}

    def _random_problem(self, rng: random.Random) -> tuple[tuple[int, ...], int] | None:
        """Numbers and a target built by random moves; None when the draw is rejected."""
        numbers = tuple(sorted(rng.randint(1, self.max_number) for _ in range(self.n_numbers)))
        state = numbers
        for _ in range(rng.randint(min(2, self.n_numbers - 1), self.n_numbers - 1)):
            move = rng.choice(list(valid_moves(state)))
            state = after_move(state, move)
        target = move.result
        one_move = {m.result for m in valid_moves(numbers)}
        if target in numbers or target > self.max_target or (self.n_numbers > 2 and target in one_move):
            return None
        return numbers, target

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        rng = random.Random(f"countdown/{self.n_numbers}/{self.max_number}/{self.max_target}/{split}/{seed}")
        return numbers_problems("countdown", split, _DEFAULT_SPLIT_SIZE.get(split, 0) if n is None else n, rng,
                                self._random_problem, _split_of)

    def extract_answer(self, response: str) -> str | None:
        """The result of the last well-formed line."""
        for step in reversed(self.split_steps(response)):
            parsed = parse_step(step)
            if parsed is not None:
                return str(parsed[0].result)
        return None

    def is_correct(self, response: str, problem: Problem) -> bool:
        steps = self.split_steps(response)
        if not steps:
            return False
        outcome = apply_steps(problem.meta["numbers"], steps)
        return outcome is not None and outcome[1] == problem.meta["target"]

    def prefix_alive(self, problem: Problem, steps: list[str]) -> bool:
        """Exact value of a prefix under a perfect continuation: can it still end correct?"""
        outcome = apply_steps(problem.meta["numbers"], steps)
        if outcome is None:
            return False
        state, last = outcome
        return last == problem.meta["target"] or solvable(state, problem.meta["target"])
