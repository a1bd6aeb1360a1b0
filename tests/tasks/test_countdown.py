import pytest

from pavlab.errors import PavlabError
from pavlab.tasks.base import Problem
from pavlab.tasks.countdown import CountdownTask, Move, apply_op, parse_step, solvable, valid_moves

TASK = CountdownTask()
# 2 3 5 7 -> 41: 5 * 7 = 35, 2 * 3 = 6, 35 + 6 = 41.
P41 = Problem(id="p41", question="2 3 5 7 -> 41", answer="41", meta={"numbers": [2, 3, 5, 7], "target": 41})
SOLUTION = "5 * 7 = 35 | 2 3 35\n2 * 3 = 6 | 6 35\n35 + 6 = 41 | 41"
# 2 3 4 -> 20: only (2 + 3) * 4 works.
P20 = Problem(id="p20", question="2 3 4 -> 20", answer="20", meta={"numbers": [2, 3, 4], "target": 20})


def test_generator_is_deterministic_and_prefix_stable():
    first = TASK.problems("test", 30, seed=3)
    assert first == CountdownTask().problems("test", 30, seed=3)
    assert first[:10] == TASK.problems("test", 10, seed=3)
    assert first != TASK.problems("test", 30, seed=4)


def test_splits_never_share_a_problem_even_across_seeds():
    keys = {}
    for split in ("train", "val", "test"):
        problems = TASK.problems(split, 300, seed=0) + TASK.problems(split, 300, seed=1)
        keys[split] = {(tuple(p.meta["numbers"]), p.meta["target"]) for p in problems}
    assert not keys["train"] & keys["val"]
    assert not keys["train"] & keys["test"]
    assert not keys["val"] & keys["test"]


def test_generated_problems_are_well_posed():
    task = CountdownTask(n_numbers=4, max_number=25)
    problems = task.problems("val", 100, seed=0)
    assert len({p.id for p in problems}) == 100
    for p in problems:
        numbers, target = p.meta["numbers"], p.meta["target"]
        assert len(numbers) == 4 and all(1 <= x <= 25 for x in numbers)
        assert target not in numbers and 1 <= target <= 100
        assert p.answer == str(target) and p.question == " ".join(map(str, numbers)) + f" -> {target}"
        assert solvable(numbers, target)
        assert target not in {m.result for m in valid_moves(tuple(numbers))}  # needs two or more operations


def test_bad_arguments_raise_pavlab_error():
    with pytest.raises(PavlabError):
        TASK.problems("dev", 3)
    with pytest.raises(PavlabError):
        CountdownTask(n_numbers=1)


@pytest.mark.parametrize("response", [
    SOLUTION,
    "7 * 5 = 35\n3 * 2 = 6\n35 + 6 = 41",  # annotation is optional, operand order free
    "5 * 7 = 35 | 35 3 2\n2 * 3 = 6 | 35 6\n35 + 6 = 41 | 41\n\n",  # annotation in any order, blank lines
    "  5*7=35|2 3 35\n2*3=6\n35+6=41",  # spacing is free
])
def test_correct_responses(response):
    assert TASK.is_correct(response, P41)
    assert TASK.extract_answer(response) == "41"


@pytest.mark.parametrize("response", [
    "",
    "\n\n",
    "41",
    "5 * 7 = 35 | 2 3 36\n2 * 3 = 6\n35 + 6 = 41",  # wrong annotation
    "5 * 7 = 35 | 2 3\n2 * 3 = 6\n35 + 6 = 41",  # annotation missing a number
    "5 * 7 = 36\n2 * 3 = 6\n36 + 5 = 41",  # arithmetic slip
    "5 * 7 = 35\n5 + 2 = 7\n35 + 6 = 41",  # 5 used twice
    "35 + 6 = 41",  # numbers not available
    "5 * 7 = 35\n2 * 3 = 6\n35 + 6 = 41\n6 - 3 = 3",  # continues past the target
    "5 * 7 = 35\n2 * 3 = 6\n35 + 6 = 41 extra",  # trailing garbage on a line
    "7 / 2 = 3\n5 * 7 = 35",  # non-integer division
    "2 - 3 = -1\n5 * 7 = 35",  # negative result
    "\u0665 * \u0667 = \u0663\u0665\n2 * 3 = 6\n35 + 6 = 41",  # Arabic-Indic digits
    "5 * 7 = 35\n2 * 3 = 6\n35 + 6 = " + "4" * 400,  # huge number
    "5 * 7 = 35\n2 * 3 = 6\n35 + 6 = " + "4" * 5000,  # beyond Python's int conversion limit
    "\x00\ud800 garbage \u202e = = |",
])
def test_incorrect_responses_never_crash(response):
    assert not TASK.is_correct(response, P41)


def test_extract_answer_is_last_result():
    assert TASK.extract_answer("5 * 7 = 35\nnonsense\n2 * 3 = 6\nmore nonsense") == "6"
    assert TASK.extract_answer("garbage") is None
    assert TASK.extract_answer("") is None


def test_parse_step_and_apply_op():
    assert parse_step("12 + 7 = 19 | 3 19 25") == (Move(12, "+", 7, 19), (3, 19, 25))
    assert parse_step("12 + 7 = 19") == (Move(12, "+", 7, 19), None)
    assert parse_step("12 % 7 = 5") is None
    assert apply_op(8, "/", 2) == 4 and apply_op(7, "/", 2) is None and apply_op(7, "/", 0) is None
    assert apply_op(3, "-", 3) is None and apply_op(5, "-", 3) == 2


@pytest.mark.parametrize(("numbers", "target", "expected"), [
    ([2, 3], 6, True),
    ([2, 3], 1, True),
    ([2, 3], 7, False),  # reachable: 5, 1, 6
    ([2, 3], 2, False),  # an input is not an answer: at least one line is needed
    ([8, 2], 4, True),
    ([7, 2], 3, False),  # 7 / 2 is not an integer
    ([1, 1, 1], 3, True),
    ([1, 1, 1], 4, False),  # 1 + 1 + 1 is the most
    ([5, 5, 5], 26, False),
    ([5, 5, 5], 125, True),
    ([4, 6, 25], 100, True),
    ([2, 3, 4], 20, True),
])
def test_solvable_hand_checked(numbers, target, expected):
    assert solvable(numbers, target) is expected


def test_prefix_alive_hand_checked():
    assert TASK.prefix_alive(P20, [])
    assert TASK.prefix_alive(P20, ["2 + 3 = 5"])
    assert TASK.prefix_alive(P20, ["3 + 2 = 5 | 4 5"])
    assert TASK.prefix_alive(P20, ["2 + 3 = 5", "5 * 4 = 20"])  # at the target: may stop
    assert not TASK.prefix_alive(P20, ["2 + 3 = 5 | 5 5"])  # wrong annotation
    assert not TASK.prefix_alive(P20, ["2 + 3 = 5", "5 + 4 = 9"])
    assert not TASK.prefix_alive(P20, ["2 + 3 = 6"])
    # Of all first moves on 2 3 4, only 2 + 3 keeps 20 reachable.
    alive = [m for m in valid_moves((2, 3, 4)) if TASK.prefix_alive(P20, [m.text()])]
    assert alive == [Move(3, "+", 2, 5)]


def test_a_long_digit_annotation_is_parsed_at_once_not_backtracked(fails_after):
    """The annotation pattern is shared with subset sum (tasks/base.py), which once backtracked exponentially."""
    with fails_after(5):
        assert parse_step("12 + 7 = 19 | " + "3" * 60 + "x") is None
    assert parse_step("12 + 7 = 19 |") == (Move(12, "+", 7, 19), ())
