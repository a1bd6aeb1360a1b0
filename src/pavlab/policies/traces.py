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
from pavlab.tasks.subset_sum import good_takes


def _slipped(move: Move, rng: random.Random, max_result: int) -> Move:
    """The same operation with a wrong result written down, positive and within `max_result`.

    Why the bound: a slip above it would leave states such as (2, 103) with no move the trace
    may play, and numbers above it are not single tokens of the testbed tokenizer.
    """
    wrong = [w for w in (move.result + d for d in (-3, -2, -1, 1, 2, 3)) if 0 < w <= max_result]
    return Move(move.a, move.op, move.b, rng.choice(wrong)) if wrong else move


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
        if not moves:  # every move overflows the bound: the solver gives up, as a failed trace
            break
        good = [m for m in moves if m.result == target or solvable(after_move(state, m), target)]
        move = rng.choice(good if good and rng.random() < good_move_prob else moves)
        if rng.random() < slip_prob:
            move = _slipped(move, rng, max_result)
        state = after_move(state, move)
        ordered.remove(move.a)
        ordered.remove(move.b)
        ordered.append(move.result)
        lines.append(move.text(tuple(ordered) if annotate else None))
        if move.result == target:
            break
    return "\n".join(lines)


def subset_sum_trace(problem: Problem, rng: random.Random, good_move_prob: float, annotate: bool,
                     smallest_first_prob: float = 0.0) -> str:
    """One response of the noisy subset-sum solver: a number that keeps the target reachable with
    probability `good_move_prob` (when one exists), else any legal number; it stops at need 0 or
    when no remaining number fits the need (a failed trace). With `annotate`, every line lists the
    untaken numbers in their prompt order (a copy minus one, easy for a tiny model).

    `smallest_first_prob` is a wrong habit played before either choice: take the smallest number
    that fits. It usually strands the need on large leftovers, so a policy trained on it fails by
    its *choices* (every line valid, the need unreachable), the starved start RL needs to test
    progress rewards (a weak policy that already writes correct lines, like the planted task's)."""
    return "\n".join(solver_lines(tuple(problem.meta["numbers"]), problem.meta["target"], rng, good_move_prob,
                                   annotate, smallest_first_prob))


def solver_lines(left: tuple[int, ...], need: int, rng: random.Random, good_move_prob: float, annotate: bool,
                 smallest_first_prob: float = 0.0) -> list[str]:
    """The noisy solver's lines from the state (`left` untaken, in prompt order; `need` still to reach), as
    `subset_sum_trace` plays them; also what the solver policy continues a prefix with (`policies.solver`)."""
    lines: list[str] = []
    while need > 0:
        legal = [x for x in left if x <= need]
        if not legal:
            break
        # the habit draws from `rng` only when it is on, so traces without it are the ones before the option existed
        if smallest_first_prob and rng.random() < smallest_first_prob:
            taken = min(legal)
        else:
            good = good_takes(left, need)
            taken = rng.choice(good if good and rng.random() < good_move_prob else legal)
        left = tuple(x for x in left if x != taken)
        need -= taken
        lines.append(f"{taken} -> {need}" + (" | " + " ".join(map(str, left)) if annotate else ""))
    return lines
