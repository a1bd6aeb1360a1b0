import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import pytest

from pavlab.tasks.grading import extract_final_answer, grade, last_boxed, parse_number

PATHOLOGICAL = "2^{2^{2^{2^{2^{2}}}}}"  # SymPy runs for minutes on this against a plain number


def test_extract_final_answer_prefers_boxed_then_answer_is_then_last_number():
    assert extract_final_answer("x = \\boxed{1}\nso \\boxed{\\frac{a}{b^{2}}} done") == "\\frac{a}{b^{2}}"
    assert extract_final_answer("3 + 4 = 7\nThe answer is 7 apples.") == "7 apples"
    assert extract_final_answer("we get 1,234 and then -5.5") == "-5.5"
    assert extract_final_answer("no numbers here") is None
    assert last_boxed("\\boxed{unclosed {") is None


def test_parse_number_tolerates_money_commas_percent_and_fractions():
    assert parse_number("$1,234.50") == Fraction("1234.5")
    assert parse_number("50\\%") == 50
    assert parse_number("3.0.") == 3
    assert parse_number("-\\frac{3}{4}") == Fraction(-3, 4)
    assert parse_number("\\dfrac{1}{2}") == Fraction(1, 2)
    assert parse_number("6/0") is None
    assert parse_number("x+1") is None


@pytest.mark.parametrize(("grader", "pred", "ref", "expected"), [
    ("exact", " 42 ", "42", True),
    ("exact", "42.0", "42", False),
    ("numeric", "42.0", "42", True),
    ("numeric", "$1,000", "1000", True),
    ("numeric", "0.5", "1/2", True),
    ("numeric", "0.51", "1/2", False),
    ("numeric", "x", "x", False),
    ("math-verify", "0.5", "\\frac{1}{2}", True),
    ("math-verify", "\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2", True),
    ("math-verify", "x + 1", "1+x", True),
    ("math-verify", "\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    ("math-verify", "7", "8", False),
    ("math-verify", "\\sqrt{3}", "\\sqrt{2}", False),
])
def test_graders(grader, pred, ref, expected):
    assert grade(pred, ref, grader) is expected


def test_math_verify_never_raises_on_garbage():
    for garbage in ["\\frac{", "}}}{{{", "\\boxed{", "$$$", "\x00\\left(", "é" * 50, "\\begin{pmatrix}"]:
        assert grade(garbage, "1", "math-verify", timeout=3.0) in (True, False)
    assert grade(None, "1") is False


def test_pathological_input_times_out_from_a_thread_and_the_worker_recovers():
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(grade("3", PATHOLOGICAL, "math-verify", timeout=1.0)))
    start = time.monotonic()
    thread.start()
    thread.join(timeout=30)
    assert result == [False] and time.monotonic() - start < 15
    assert grade("x^2 - 1", "(x-1)(x+1)", "math-verify")  # a fresh worker took over


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_pathological_input_times_out_in_a_process_pool_worker(start_method):
    start = time.monotonic()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context(start_method)) as pool:
        assert pool.submit(grade, "3", PATHOLOGICAL, "math-verify", 1.0).result() is False
    assert time.monotonic() - start < 30
