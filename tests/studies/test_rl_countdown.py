"""The countdown RL study on a tiny random policy and PAV (files, keys, counts, resuming), and its pure pieces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from pavlab import testing
from pavlab.cache import cached_json
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.studies import policy_evals
from pavlab.studies.policy_evals import (
    correct_counts,
    pass_at_n_curve,
    seed_spread,
    solved_among,
    unsolved,
)
from pavlab.studies.rl_countdown import CountdownRLStudyConfig, EvalSettings, record_beam, run_countdown_rl_study
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig

TASK = TaskConfig(name="countdown", n_numbers=3, max_number=9)
TINY_RL = {"problems_per_iteration": 2, "group_size": 2, "train_problems": 8, "eval_problems": 3, "eval_samples": 1,
           "max_new_tokens": 12, "rft_steps": 0}  # a random policy has no correct samples to fine-tune on
TINY_EVALS = EvalSettings(pass_problems=3, pass_samples=4, screen_problems=4, screen_samples=4, beam_budgets=(2,),
                          candidates=2, max_depth=2, step_tokens=6, max_new_tokens=12)


@pytest.fixture
def tiny_models(tmp_path: Path) -> tuple[Path, Path]:
    """A random tiny countdown policy and a random Q^pi verifier on its tokenizer, saved as checkpoints."""
    tokenizer = testing.countdown_tokenizer()
    policy, verifier = tmp_path / "policy", tmp_path / "verifier"
    testing.tiny_llama(tokenizer, 0, tie=True).save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    testing.random_value_model(tokenizer).save_pretrained(verifier, tokenizer)
    return policy, verifier


def test_tiny_study_end_to_end_then_resumes_from_its_caches(tmp_path: Path, tiny_models) -> None:
    torch.set_num_threads(1)
    policy, verifier = tiny_models
    out = tmp_path / "study"
    kwargs = {"policy": policy, "verifier": verifier, "alphas": (1.0,), "seeds": (0, 1), "iterations": 2,
              "oracle_alphas": (1.0,), "ablation": True, "task": TASK, "settings": TINY_RL, "evals": TINY_EVALS}
    study_file = run_countdown_rl_study(CountdownRLStudyConfig(out=out, **kwargs))
    data = json.loads((out / "rl_countdown.json").read_text())
    assert study_file == out / "rl_countdown.json"
    summary = data["summary"]
    names = {"ORM-RL", "PAV-RL alpha 1", "Oracle-PAV-RL alpha 1", "Q+aQ^mu alpha 1"}
    assert {arm["prover"] for arm in data["arms"]} == {None, "bok:4", "oracle"}
    assert {arm["name"] for arm in data["arms"]} == names
    with open(out / "rl_countdown.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["arm"] for row in rows} == names and {row["seed"] for row in rows} == {"0", "1"}
    assert sorted({int(row["samples"]) for row in rows}) == [0, 8]  # 2 iterations x 2 problems x 2 samples
    evaluation = data["evaluation"]
    assert evaluation["budgets"] == [1, 2, 4] and evaluation["screened"] == 4
    assert set(evaluation["pass_at_n"]) == {"start", *names}
    for curve in evaluation["pass_at_n"].values():
        for low, mean, high in zip(curve["min"], curve["mean"], curve["max"], strict=True):
            assert 0.0 <= low <= mean <= high <= 1.0
        assert curve["mean"] == sorted(curve["mean"])  # Pass@N never falls with N
    assert len(evaluation["pass_at_n"]["ORM-RL"]["per_seed"]) == 2
    hard = evaluation["hard"]
    assert set(evaluation["beam"]) == {"start", *names}
    for cells in evaluation["beam"].values():
        assert len(cells["2"]["picked"]) == 2  # one count per seed
        assert all(p <= a <= len(hard) for p, a in zip(cells["2"]["picked"], cells["2"]["any"], strict=True))
    assert set(summary["sample_efficiency"]) == {"PAV-RL alpha 1", "Oracle-PAV-RL alpha 1"}
    assert "| claim | paper | measured here |" in summary["markdown"]
    assert "best arm PAV-RL alpha 1" in summary["markdown"]  # the claims read the learned PAV, not the oracle
    assert "| Oracle-PAV-RL alpha 1: exact prover values" in summary["markdown"]
    assert (out / "rl_countdown.md").read_text() == summary["markdown"]
    for figure in ("rl_countdown.png", "rl_countdown_pass_at_n.png"):
        assert (out / figure).stat().st_size > 1000

    caches = {path: path.stat().st_mtime_ns for path in (out / "evals").iterdir()}
    assert len(caches) == 1 + 2 + 4 * 2 * 2  # start screen, start beams (2 seeds), per arm x seed: counts + beam
    again = json.loads(run_countdown_rl_study(CountdownRLStudyConfig(out=out, **kwargs)).read_text())["summary"]
    assert {path: path.stat().st_mtime_ns for path in (out / "evals").iterdir()} == caches  # nothing recomputed
    assert again["markdown"] == summary["markdown"]


def test_pass_at_n_curve_is_the_mean_unbiased_estimate() -> None:
    # c = 0 never passes; c = 2 of 4: pass@1 = 1/2, pass@2 = 1 - C(2,2)/C(4,2) = 5/6, pass@4 = 1; c = 4 always passes
    assert pass_at_n_curve([0, 2, 4], 4, [1, 2, 4]) == pytest.approx([1.5 / 3, (5 / 6 + 1) / 3, 2 / 3])


def test_seed_spread_is_pointwise() -> None:
    spread = seed_spread({0: [0.1, 0.5], 1: [0.3, 0.2]})
    assert spread["mean"] == pytest.approx([0.2, 0.35])
    assert (spread["min"], spread["max"]) == ([0.1, 0.2], [0.3, 0.5])


def test_beyond_best_of_k_counts_only_hard_problems() -> None:
    hard = unsolved(["a", "b", "c", "d"], [0, 3, 0, 1])
    assert hard == ["a", "c"]
    rows = [{"problem_id": "a", "correct": True, "pass_at_n": True},
            {"problem_id": "b", "correct": True, "pass_at_n": True},  # solved, but not hard: not counted
            {"problem_id": "c", "correct": False, "pass_at_n": True}]
    assert solved_among(hard, rows, "correct") == 1
    assert solved_among(hard, rows, "pass_at_n") == 2
    cells: dict = {}
    record_beam(cells, 16, hard, rows)
    record_beam(cells, 16, hard, rows[1:])
    assert cells == {"16": {"picked": [1, 0], "any": [2, 1]}}


class CountingTask(Task):
    """Problem i's prompt is 'i'; a response is correct iff it is 'yes'."""

    name = "counting"

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        return [Problem(id=f"p{i}", question=str(i), answer="yes") for i in range(n or 5)]

    def prompt(self, problem: Problem) -> str:
        return problem.question

    def extract_answer(self, response: str) -> str | None:
        return response or None

    def is_correct(self, response: str, problem: Problem) -> bool:
        return response == "yes"


class FirstKCorrect(PolicyBackend):
    """For prompt 'i', the first min(i, n) of the n samples are correct; records each call's batch size."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        self.calls.append(len(prompts))
        return [[Completion("yes" if j < int(prompt) else "no", [0], [0.0], "eos") for j in range(n)]
                for prompt in prompts]


def test_correct_counts_across_batched_calls(monkeypatch) -> None:
    monkeypatch.setattr(policy_evals, "SAMPLES_PER_CALL", 8)  # 4 samples each: 2 problems per call
    policy, task = FirstKCorrect(), CountingTask()
    counts = correct_counts(task, policy, task.problems("test", 5), 4, SamplingParams(seed=0))
    assert counts == [0, 1, 2, 3, 4]
    assert policy.calls == [2, 2, 1]


def test_cached_json_recomputes_only_for_a_new_key(tmp_path: Path) -> None:
    calls = []

    def compute() -> list[int]:
        calls.append(1)
        return [len(calls)]

    path = tmp_path / "evals" / "x.json"
    assert cached_json(path, {"seed": 0}, compute) == [1]
    assert cached_json(path, {"seed": 0}, compute) == [1]
    assert cached_json(path, {"seed": 1}, compute) == [2]
    assert len(calls) == 2


def test_cli_rejects_a_missing_verifier_before_any_run(run_cli, tmp_path: Path) -> None:
    code, out, err = run_cli("study", "rl-countdown", "--out", str(tmp_path / "study"), "--verifier",
                             str(tmp_path / "missing"), "--quick")
    assert code == 2 and "verifier directory not found" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "study").exists()
