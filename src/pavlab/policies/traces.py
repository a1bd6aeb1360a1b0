"""Mixed-quality solution traces that the testbed policies are trained on.

Why noisy: a policy imitating a perfect solver would need no search and leave the verifiers
nothing to tell apart. A solver that usually plays a good move (one that keeps the target
reachable, by the exact oracle) but sometimes a random one, and rarely slips on arithmetic,
gives a policy with modest pass@1 and much higher pass@k, which is what search and RL need.
"""

from __future__ import annotations

import random

from pavlab.tasks.base import Problem
from pavlab.tasks.countdown import Move, after_move, solvable, valid_moves


def _slipped(move: Move, rng: random.Random) -> Move:
    """The same operation with a wrong (but positive) result written down."""
    wrong = move.result + rng.choice([-3, -2, -1, 1, 2, 3])
    return Move(move.a, move.op, move.b, wrong if wrong > 0 else move.result + 1)


def countdown_trace(problem: Problem, rng: random.Random, good_move_prob: float, slip_prob: float,
                    max_result: int, annotate: bool) -> str:
    """One response of the noisy solver; it stops at the target or when one number is left.

    Moves with results above `max_result` are never played, so every number in a trace is a
    single token of a tokenizer built for `max_result`.
    """
    state = tuple(sorted(problem.meta["numbers"]))
    # The annotation keeps the unused numbers in their order and appends the result: copying is
    # far easier for a tiny model to learn than re-sorting the list after every line.
    ordered = list(state)
    target = problem.meta["target"]
    lines: list[str] = []
    while len(state) > 1:
        moves = [m for m in valid_moves(state) if m.result <= max_result]
        good = [m for m in moves if m.result == target or solvable(after_move(state, m), target)]
        move = rng.choice(good if good and rng.random() < good_move_prob else moves)
        if rng.random() < slip_prob:
            move = _slipped(move, rng)
        state = after_move(state, move)
        ordered.remove(move.a)
        ordered.remove(move.b)
        ordered.append(move.result)
        lines.append(move.text(tuple(ordered) if annotate else None))
        if move.result == target:
            break
    return "\n".join(lines)
