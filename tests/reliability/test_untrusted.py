"""Untrusted content: responses are data, never code; grading always terminates; weights load without pickle;
and generation lengths and search depths are bounded."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from pavlab.config import load_config
from pavlab.search.run import SearchConfig
from pavlab.tasks.countdown import CountdownTask
from pavlab.tasks.grading import GRADERS, grade
from pavlab.tasks.planted import PlantedTask

SRC = Path(__file__).resolve().parents[2] / "src" / "pavlab"
PAYLOADS = ["__import__('os').system('touch PWNED')", "open('PWNED', 'w').write('x')",
            "\\boxed{__import__('os').system('touch PWNED')}", "2 + 3 = 5\n__import__('os').system('touch PWNED')"]
PATHOLOGICAL = ["\\boxed{9^{9^{9^{9^{9}}}}}", "(" * 5000 + "1" + ")" * 5000]


@pytest.mark.parametrize("grader", GRADERS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_graders_treat_code_as_a_wrong_answer(grader: str, payload: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert grade(payload, "7", grader) is False
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_tasks_treat_code_as_a_wrong_answer(payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    countdown = CountdownTask()
    problem = countdown.problems("test", 1)[0]
    planted = PlantedTask()
    assert countdown.is_correct(payload, problem) is False
    assert planted.is_correct(payload, planted.problems("test", 1)[0]) is False
    assert not (tmp_path / "PWNED").exists()


def test_math_verify_never_hangs() -> None:
    """Each pathological answer costs at most its timeout (plus restarting the killed worker)."""
    grade("1", "2", "math-verify")  # start the worker outside the timed part
    for answer in PATHOLOGICAL:
        started = time.perf_counter()
        assert grade(answer, "2", "math-verify", timeout=1.0) is False
        assert time.perf_counter() - started < 30.0


def _torch_load_calls() -> list[tuple[str, str]]:
    return [(str(path.relative_to(SRC)), match.group(0)) for path in sorted(SRC.rglob("*.py"))
            for match in re.finditer(r"torch\.load\([^)]*\)", path.read_text())]




@pytest.mark.parametrize(("path", "call"), [pytest.param(path, call, id=path) for path, call in _torch_load_calls()])
def test_every_torch_load_is_weights_only(path: str, call: str) -> None:
    assert "weights_only=True" in call, f"{path}: {call}"


def test_torch_load_calls_were_found() -> None:
    assert len(_torch_load_calls()) >= 2


def test_generation_and_search_lengths_are_bounded(tmp_path: Path) -> None:
    from pavlab.io import read_jsonl
    from pavlab.sampling import SampleConfig, run_sampling

    for bad in ({"generation": {"max_new_tokens": 0}}, {"generation": {"max_new_tokens": -1}}):
        with pytest.raises(ValidationError):
            SampleConfig.model_validate({"policy": "mu:5", "out": "x", **bad})
    with pytest.raises(ValidationError):
        SearchConfig.model_validate({"policy": "mu:5", "out": "x", "max_depth": 0})
    config = load_config(SampleConfig, overrides={"task": {"name": "planted"}, "policy": "mu:5", "problems": 4,
                                                  "n": 4, "generation": {"max_new_tokens": 3},
                                                  "out": str(tmp_path / "s.jsonl")})
    rows = read_jsonl(run_sampling(config))
    assert rows and max(row["generated_tokens"] for row in rows) <= 3
