"""Answer extraction and grading for free-text math tasks: `exact`, `numeric` and `math-verify`.

Why a worker process for math-verify: its own timeout uses SIGALRM, which only works in the
main thread of the main interpreter, and some inputs (``2^{2^{2^{2^{2^{2}}}}}``) make SymPy run
for minutes. So math-verify runs with its timeouts disabled in one persistent child process
(``python -c``, so it works from threads, async code and pool workers, daemonic or not), started
on first use and reused; a call that runs past its timeout kills the child (restarted lazily)
and grades False. A cheap fast path (equal strings, equal numbers) answers most calls without
touching the child.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
from fractions import Fraction
from typing import Literal, get_args

from pavlab.errors import PavlabError
from pavlab.tasks.base import Problem, Task

GraderName = Literal["exact", "numeric", "math-verify"]
GRADERS: tuple[str, ...] = get_args(GraderName)
DEFAULT_TIMEOUT_S = 5.0
WORKER_START_TIMEOUT_S = 120.0  # importing SymPy on a loaded 2-core box can take a while
_REL_TOL = 1e-6

_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}$")
_ANSWER_IS = re.compile(r"answer is[:\s]*\$?([^\n$]+?)\$?\s*(?:\.\s*)?$", re.IGNORECASE | re.MULTILINE)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) with balanced braces, or None."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    index = text.index("{", start) + 1
    depth, begin = 1, index
    while index < len(text):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[begin:index].strip()
        index += 1
    return None


def extract_final_answer(response: str) -> str | None:
    """The final answer of a free-text solution: last \\boxed{}, else "answer is X", else the last number."""
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    stated = _ANSWER_IS.findall(response)
    if stated:
        return stated[-1].strip().rstrip(".").strip()
    numbers = _NUMBER.findall(response)
    return numbers[-1] if numbers else None


def parse_number(text: str) -> Fraction | None:
    """A number written loosely ("$1,234.50", "50%", "3.0", "\\frac{1}{2}", "-3/4"), or None."""
    cleaned = text.strip().strip("$").strip()
    for noise in ("\\$", "\\%", "%", "\\!", "\\,", "{,}", " ", "\\text{}"):
        cleaned = cleaned.replace(noise, "")
    cleaned = cleaned.rstrip(".")
    frac = _FRAC.match(cleaned)
    if frac:
        sign, numerator, denominator = frac.groups()
        cleaned = f"{sign}{numerator}/{denominator}"
    if not cleaned or _NUMBER.fullmatch(cleaned) is None:
        return None
    try:
        numerator_text, _, denominator_text = cleaned.replace(",", "").partition("/")
        value = Fraction(numerator_text)
        return value / Fraction(denominator_text) if denominator_text else value
    except (ValueError, ZeroDivisionError):
        return None


def _normalize(text: str) -> str:
    return re.sub(r"\s+", "", text).strip("$").rstrip(".")


def exact_match(predicted: str, reference: str) -> bool:
    """Equal after removing whitespace, surrounding $ and a trailing period."""
    return _normalize(predicted) == _normalize(reference)


def numeric_match(predicted: str, reference: str) -> bool:
    """Both are numbers and agree to a relative tolerance of 1e-6 (exact for integers)."""
    a, b = parse_number(predicted), parse_number(reference)
    if a is None or b is None:
        return False
    return a == b or abs(a - b) <= _REL_TOL * max(abs(a), abs(b))


def _worker_main() -> None:
    """Child loop: one JSON request per stdin line -> one JSON bool per line on the real stdout."""
    import logging

    protocol = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr  # anything math-verify prints must not corrupt the protocol
    logging.disable(logging.WARNING)
    from math_verify import parse, verify

    protocol.write("ready\n")
    protocol.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            gold = parse(_as_math(request["gold"]), parsing_timeout=None)
            pred = parse(_as_math(request["pred"]), parsing_timeout=None)
            result = bool(gold and pred and verify(gold, pred, timeout_seconds=None))
        except Exception:  # math-verify on adversarial text: ungradable means wrong
            result = False
        protocol.write(json.dumps(result) + "\n")
        protocol.flush()


def _as_math(text: str) -> str:
    """Bare answers are wrapped in $...$ so math-verify reads them as LaTeX, not prose."""
    return text if "$" in text or "\\boxed" in text else f"${text}$"


class MathVerifyWorker:
    """One persistent child process running math-verify; thread-safe, restarted after a timeout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def forget_after_fork(self) -> None:
        """In a forked child the parent's worker (and possibly a held lock) must not be reused."""
        self._lock = threading.Lock()
        self._process = None

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", "from pavlab.tasks.grading import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        if self._read_line(process, WORKER_START_TIMEOUT_S) != "ready":
            process.kill()
            process.wait()
            raise PavlabError("the math-verify grader's worker process did not start (is math-verify installed?)")
        return process

    @staticmethod
    def _read_line(process: subprocess.Popen[str], timeout: float) -> str | None:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        return process.stdout.readline().strip() if ready else None

    def verify(self, predicted: str, reference: str, timeout: float = DEFAULT_TIMEOUT_S) -> bool:
        """math-verify equivalence of two answers; False on timeout or any failure."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process = self._process
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps({"gold": reference, "pred": predicted}) + "\n")
                process.stdin.flush()
                reply = self._read_line(process, timeout)
            except (BrokenPipeError, OSError):
                reply = None
            if reply not in ("true", "false"):
                self.close_locked()
                return False
            return reply == "true"

    def close_locked(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        """Stop the child (it is restarted on the next call)."""
        with self._lock:
            self.close_locked()


_WORKER = MathVerifyWorker()
atexit.register(_WORKER.close)
os.register_at_fork(after_in_child=_WORKER.forget_after_fork)


def math_verify_match(predicted: str, reference: str, timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    """Fast path first (equal strings, or two plain numbers), then math-verify in the worker."""
    if exact_match(predicted, reference):
        return True
    a, b = parse_number(predicted), parse_number(reference)
    if a is not None and b is not None:
        return numeric_match(predicted, reference)
    return _WORKER.verify(predicted, reference, timeout)


def grade(predicted: str | None, reference: str, grader: str = "math-verify",
          timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    """Is `predicted` equivalent to `reference` under `grader`? Never raises on arbitrary text."""
    if predicted is None or not predicted.strip():
        return False
    if grader == "exact":
        return exact_match(predicted, reference)
    if grader == "numeric":
        return numeric_match(predicted, reference)
    if grader == "math-verify":
        return math_verify_match(predicted, reference, timeout)
    raise ValueError(f"unknown grader {grader!r} (expected one of {', '.join(GRADERS)})")


class AnswerGradedTask(Task):
    """A task whose responses end in a final answer that a grader compares with the reference."""

    grader: str = "math-verify"

    def extract_answer(self, response: str) -> str | None:
        return extract_final_answer(response)

    def is_correct(self, response: str, problem: Problem) -> bool:
        return grade(self.extract_answer(response), problem.answer, self.grader)
