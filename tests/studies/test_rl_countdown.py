"""The countdown RL study on a tiny random policy and PAV (files, keys, counts, resuming), and its pure pieces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from pavlab import testing
from pavlab.cache import cached_json
from pavlab.config import load_config
from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.studies import policy_evals, rl_countdown
from pavlab.studies.policy_evals import (
    correct_counts,
    pass_at_n_curve,
    seed_spread,
    solved_among,
    unsolved,
)
from pavlab.studies.rl_countdown import (
    PENDING,
    SHARED_SETTINGS,
    CountdownRLStudyConfig,
    EvalSettings,
    PolicyEvaluator,
    claims,
    evaluate_policies,
    provers_title,
    record_beam,
    run_countdown_rl_study,
    short_prover,
    study_arms,
)
from pavlab.studies.rl_curves import ArmRuns, RewardArm
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig

TASK = TaskConfig(name="countdown", n_numbers=3, max_number=9)
TINY_RL = {"problems_per_iteration": 2, "group_size": 2, "train_problems": 8, "eval_problems": 3, "eval_samples": 1,
           "max_new_tokens": 12, "rft_steps": 0}  # a random policy has no correct samples to fine-tune on
TINY_EVALS = EvalSettings(pass_problems=3, pass_samples=4, screen_problems=4, screen_samples=4, beam_budgets=(2,),
                          candidates=2, max_depth=2, step_tokens=6, max_new_tokens=12)
TABLE_HEADERS = ["| claim | paper | measured here |",
                 "| arm | seeds | start | final mean [min, max] | best mean | samples | Pass@1 | Pass@4 | "
                 "train response tokens (last iteration) |",
                 "| arm | ORM-RL best mean | ORM-RL samples | PAV-RL samples | ratio |",
                 "| policy | N=1 | N=2 | N=4 |", "| policy + PAV beam | N=2 |"]
SETTINGS_KEYS = {*SHARED_SETTINGS, *TINY_RL, "eval_every", "pass_problems", "pass_samples", "screen_problems",
                 "screen_samples", "beam_budgets", "beam_alpha", "candidates", "max_depth", "step_tokens", "iterations",
                 "seeds", "alphas", "oracle_alphas", "solvers", "solver_alphas", "ablation_alpha", "policy", "verifier",
                 "prover", "task"}


def table_headers(markdown: str) -> list[str]:
    """The header row of every table in a Markdown text."""
    lines = markdown.splitlines()
    return [line for line, below in zip(lines[:-1], lines[1:], strict=True) if below.startswith("|---")]


def study_kwargs(policy: Path, verifier: Path, **overrides) -> dict:
    """The tiny study: 4 arms (ORM, PAV, oracle PAV, ablation) x 2 seeds x 2 iterations."""
    return {"policy": policy, "verifier": verifier, "alphas": (1.0,), "seeds": (0, 1), "iterations": 2,
            "oracle_alphas": (1.0,), "ablation": True, "task": TASK, "settings": TINY_RL, "evals": TINY_EVALS,
            **overrides}


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
    kwargs = study_kwargs(policy, verifier)
    study_file = run_countdown_rl_study(CountdownRLStudyConfig(out=out, **kwargs))
    data = json.loads((out / "rl_countdown.json").read_text())
    assert study_file == out / "rl_countdown.json"
    summary = data["summary"]
    # the complete layout, as before the training summary was written first: same keys, same tables
    assert list(data) == ["settings", "arms", "curves", "summary", "evaluation"]
    assert set(data["settings"]) == SETTINGS_KEYS
    assert list(summary) == ["arms", "sample_efficiency", "efficiency_reference", "mean_curves",
                             "exact_prover_strength", "markdown", "wall_seconds_this_run"]
    assert summary["exact_prover_strength"] == {"oracle": 1.0}  # every generated countdown problem is solvable
    assert list(data["evaluation"]) == ["budgets", "pass_at_n", "screened", "hard", "beam"]
    assert table_headers(summary["markdown"]) == TABLE_HEADERS
    assert "pending" not in summary["markdown"]
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
    assert f"PAV: {verifier} with prover bok:4." in summary["markdown"]  # the learned arms' PAV
    exact_only = {**data["settings"], "alphas": [], "ablation_alpha": None}
    assert f"every arm's prover is exact; the beam evaluations' PAV: {verifier} with prover bok:4." in \
        rl_countdown.markdown_section(summary, evaluation, "pavlab study rl-countdown", exact_only)
    for figure in ("rl_countdown.png", "rl_countdown_pass_at_n.png", "rl_countdown_provers.png"):
        assert (out / figure).stat().st_size > 1000

    caches = {path: path.stat().st_mtime_ns for path in (out / "evals").iterdir()}
    assert len(caches) == 1 + 2 + 4 * 2 * 2  # start screen, start beams (2 seeds), per arm x seed: counts + beam
    again = json.loads(run_countdown_rl_study(CountdownRLStudyConfig(out=out, **kwargs)).read_text())["summary"]
    assert {path: path.stat().st_mtime_ns for path in (out / "evals").iterdir()} == caches  # nothing recomputed
    assert again["markdown"] == summary["markdown"]


def test_training_summary_first_then_parallel_evaluation_equals_serial(tmp_path: Path, tiny_models) -> None:
    torch.set_num_threads(1)
    policy, verifier = tiny_models
    out = tmp_path / "study"
    skipped = EvalSettings(**{**TINY_EVALS.model_dump(), "skip": True})
    run_countdown_rl_study(CountdownRLStudyConfig(out=out, **study_kwargs(policy, verifier, evals=skipped)))
    trained = json.loads((out / "rl_countdown.json").read_text())
    assert trained["evaluation"] is None and "skip" not in trained["settings"]
    assert trained["summary"]["arms"]["PAV-RL alpha 1"]["sample_efficiency_vs_orm"]["undefined_share"] is not None
    assert all(len(row["final_ci"]) == 2 for row in trained["summary"]["arms"].values())
    markdown = (out / "rl_countdown.md").read_text()
    assert markdown == trained["summary"]["markdown"]
    assert markdown.count(PENDING) == 2  # one claim row, one line in place of the Pass@N and beam tables
    assert table_headers(markdown) == [TABLE_HEADERS[0], TABLE_HEADERS[1].replace(" Pass@1 | Pass@4 |", ""),
                                       TABLE_HEADERS[2]]
    assert (out / "rl_countdown.csv").exists() and (out / "rl_countdown.png").stat().st_size > 1000
    assert not (out / "rl_countdown_pass_at_n.png").exists() and not (out / "evals").exists()

    run_countdown_rl_study(CountdownRLStudyConfig(out=out, workers=2, **study_kwargs(policy, verifier)))
    parallel = json.loads((out / "rl_countdown.json").read_text())
    assert parallel["curves"] == trained["curves"]  # the runs resumed: only the evaluation was added
    assert table_headers(parallel["summary"]["markdown"]) == TABLE_HEADERS
    assert (out / "rl_countdown_pass_at_n.png").exists()
    for cache in (out / "evals").iterdir():
        cache.unlink()
    run_countdown_rl_study(CountdownRLStudyConfig(out=out, **study_kwargs(policy, verifier)))
    serial = json.loads((out / "rl_countdown.json").read_text())
    assert serial["evaluation"] == parallel["evaluation"]
    assert serial["summary"]["markdown"] == parallel["summary"]["markdown"]

    run_countdown_rl_study(CountdownRLStudyConfig(out=out, **study_kwargs(policy, verifier, evals=skipped)))
    kept = json.loads((out / "rl_countdown.json").read_text())  # the same study, only not evaluating again
    assert kept["evaluation"] == serial["evaluation"] and kept["summary"]["markdown"] == serial["summary"]["markdown"]
    assert (out / "rl_countdown_pass_at_n.png").exists()
    other = EvalSettings(**{**skipped.model_dump(), "pass_problems": skipped.pass_problems + 1})
    run_countdown_rl_study(CountdownRLStudyConfig(out=out, **study_kwargs(policy, verifier, evals=other)))
    assert json.loads((out / "rl_countdown.json").read_text())["evaluation"] is None  # it evaluated another study
    assert not (out / "rl_countdown_pass_at_n.png").exists()  # no earlier figure beside a pending evaluation


def test_solver_arms_are_exact_provers_not_the_learned_pav() -> None:
    arms = study_arms([1.0], "bok:4", None, [3.0], solvers=[0.3, 0.9], solver_alphas=[1.0, 3.0])
    assert [(arm.name, arm.prover, arm.alpha) for arm in arms[3:]] == [
        ("Solver-0.3-PAV-RL alpha 1", "solver:0.3", 1.0), ("Solver-0.3-PAV-RL alpha 3", "solver:0.3", 3.0),
        ("Solver-0.9-PAV-RL alpha 1", "solver:0.9", 1.0), ("Solver-0.9-PAV-RL alpha 3", "solver:0.9", 3.0)]
    assert arms[3].folder == "Solver-0.3-PAV-RL_alpha_1"

    def row(prover: str | None, final: float) -> dict:
        return {"prover": prover, "reward": "advantage", "final_accuracy": final, "final_min": final,
                "final_max": final, "start_accuracy": 0.2, "final_response_tokens": 50.0}

    summary = {"arms": {"ORM-RL": row(None, 0.38), "PAV-RL alpha 1": row("bok:4", 0.39),
                        "Solver-0.9-PAV-RL alpha 1": row("solver:0.9", 0.45)},
               "sample_efficiency": {name: {"ratio": 2.0} for name in ("PAV-RL alpha 1", "Solver-0.9-PAV-RL alpha 1")}}
    rows = claims(summary, None, {"screen_samples": 256})
    # the headline reads the learned PAV even when an exact prover does better; the solver gets its own row
    assert "best arm PAV-RL alpha 1" in rows[0]
    assert any(r.startswith("| Solver-0.9-PAV-RL alpha 1: exact prover values (solver:0.9)") for r in rows)


def test_a_study_of_exact_provers_only_needs_no_learned_alpha_but_some_pav_arm(tmp_path: Path) -> None:
    config = CountdownRLStudyConfig.model_validate({"out": tmp_path, "verifier": tmp_path, "alphas": "",
                                                    "solvers": "0.3", "no_ablation": True})
    assert config.alphas == [] and config.solvers == [0.3]
    with pytest.raises(ValueError, match="no PAV-RL arm"):
        CountdownRLStudyConfig.model_validate({"out": tmp_path, "verifier": tmp_path, "alphas": ""})


def test_the_verifier_is_needed_only_by_the_beam_evaluations_and_bok_provers(tmp_path: Path, tiny_models) -> None:
    """A model:DIR prover is its own verifier: training-only studies of it (or of exact provers) need no Q^pi."""
    torch.set_num_threads(1)
    policy, q_mu = tiny_models
    skipped = EvalSettings(**{**TINY_EVALS.model_dump(), "skip": True})
    kwargs = study_kwargs(policy, None, prover=f"model:{q_mu}", oracle_alphas=(), seeds=(0,), evals=skipped,
                          alphas=(2.0,), ablation_alpha=2.0, pav_settings={"train_execution": False})
    data = json.loads(run_countdown_rl_study(CountdownRLStudyConfig(out=tmp_path / "study", **kwargs)).read_text())
    assert data["settings"]["verifier"] is None and set(data["summary"]["arms"]) == {
        "ORM-RL", "PAV-RL alpha 2", "Q+aQ^mu alpha 2"}  # the ablation at the PAV arm's alpha
    runs = tmp_path / "study" / "runs"
    ablation = json.loads((runs / "Q+aQ^mu_alpha_2" / "seed0" / "rl_run.json").read_text())
    assert (ablation["config"]["alpha"], ablation["config"]["reward"]) == (2.0, "q_plus_q_mu")
    # the PAV-only settings reach every arm with a prover and leave ORM-RL's runs as --settings made them
    assert [json.loads((runs / arm / "seed0" / "rl_run.json").read_text())["config"]["train_execution"]
            for arm in ("ORM-RL", "PAV-RL_alpha_2", "Q+aQ^mu_alpha_2")] == [True, False, False]
    assert data["settings"]["pav_settings"] == {"train_execution": False}
    assert 'the arms with a prover also {"train_execution": false}; PAV:' in data["summary"]["markdown"]
    assert f"PAV: prover model:{q_mu} (no Q^pi verifier)." in data["summary"]["markdown"]
    base = {"out": tmp_path, "no_ablation": True, "evals": {"skip": True}}
    for arms in ({"alphas": "1", "prover": f"model:{tmp_path}"}, {"alphas": "", "oracle_alphas": "3"}):
        assert CountdownRLStudyConfig.model_validate({**base, **arms}).verifier is None
    with pytest.raises(ValueError, match="--alphas: prover 'bok:4' is read from a Q\\^pi verifier"):
        CountdownRLStudyConfig.model_validate({**base, "alphas": "1", "prover": "bok:4"})
    with pytest.raises(ValueError, match="--alphas '' --no-ablation for exact provers only"):  # the default alphas
        CountdownRLStudyConfig.model_validate({**base, "solvers": "0.3"})
    with pytest.raises(ValueError, match="beam evaluations read the PAV"):
        CountdownRLStudyConfig.model_validate({"out": tmp_path, "alphas": "1", "prover": f"model:{tmp_path}"})
    for field in ("settings", "pav_settings"):  # an arm's own fields are not settings
        with pytest.raises(ValueError, match="alpha is set per arm"):
            CountdownRLStudyConfig.model_validate({**base, "alphas": "", "oracle_alphas": "3", field: {"alpha": 2}})


def test_exact_prover_bounds_sit_beside_their_gains_per_alpha(tmp_path: Path) -> None:
    def entry(spec: str, total: float) -> dict:
        value = {"value": total, "low": total, "high": total}
        return {"spec": spec, "total": value, "distinguishability": value, "alignment": value}

    ranking = tmp_path / "ranking.json"
    ranking.write_text(json.dumps({"ranking": [entry("oracle", 0.17), entry("solver:0.7", 0.08),
                                               entry("solver:0.3", 0.04), entry("bok:1", 0.06)]}))
    arms = study_arms([1.0], "bok:4", None, [1.0], solvers=[0.3, 0.7, 0.9], solver_alphas=[1.0])
    bounds = rl_countdown.exact_prover_bounds(ranking, arms)
    assert set(bounds) == {"Oracle-PAV-RL alpha 1", *(f"Solver-{p}-PAV-RL alpha 1" for p in ("0.3", "0.7", "0.9"))}
    assert bounds["Solver-0.9-PAV-RL alpha 1"] is None and bounds["Oracle-PAV-RL alpha 1"]["rank"] == 1

    def row(prover: str | None, final: float) -> dict:
        return {"prover": prover, "alpha": 0.0 if prover is None else 1.0, "final_accuracy": final}

    finals = {"ORM-RL": (None, 0.38), "Oracle-PAV-RL alpha 1": ("oracle", 0.39),
              "Solver-0.3-PAV-RL alpha 1": ("solver:0.3", 0.41), "Solver-0.7-PAV-RL alpha 1": ("solver:0.7", 0.40),
              "Solver-0.9-PAV-RL alpha 1": ("solver:0.9", 0.395)}
    summary = {"arms": {name: row(*value) for name, value in finals.items()}, "exact_prover_bounds": bounds}
    (claim,) = rl_countdown.exact_bound_claims(summary)
    # largest bound first; the unranked prover is listed, not dropped; the bound orders them against RL here
    assert ("oracle: 0.170 -> +1.0 points; solver:0.7: 0.080 -> +2.0 points; solver:0.3: 0.040 -> +3.0 points; "
            "solver:0.9: not ranked -> +1.5 points; Spearman(bound, gain) = -1.00 |") in claim


def test_parallel_jobs_leave_the_parent_only_cache_reads(tmp_path: Path, tiny_models, monkeypatch) -> None:
    """The jobs handed to the worker processes compute every count and beam the result is assembled from."""
    torch.set_num_threads(1)
    policy, verifier = tiny_models
    out = tmp_path / "study"
    skipped = EvalSettings(**{**TINY_EVALS.model_dump(), "skip": True})
    run_countdown_rl_study(CountdownRLStudyConfig(out=out, **study_kwargs(policy, verifier, evals=skipped)))
    arms = study_arms([1.0], "bok:4", 1.0, [1.0])
    runs = ArmRuns(arms, {arm.name: {seed: out / "runs" / arm.folder / f"seed{seed}" for seed in (0, 1)}
                          for arm in arms}, {})
    where = ["parent"]
    computed: list[tuple[str, str]] = []

    def in_pool(jobs, workers):  # the jobs run here, in order, so the patched functions below see them
        where.append("pool")
        results = [job() for job in jobs]
        where.append("parent")
        return results

    def recorded(name: str):
        real = getattr(rl_countdown, name)
        return lambda *args, **kwargs: computed.append((name, where[-1])) or real(*args, **kwargs)

    monkeypatch.setattr(rl_countdown, "run_in_processes", in_pool)
    for name in ("correct_counts", "beam_rows"):
        monkeypatch.setattr(rl_countdown, name, recorded(name))
    evaluator = PolicyEvaluator(out / "evals", TASK, verifier, "bok:4", TINY_EVALS)
    evaluation = evaluate_policies(evaluator, policy, runs, (0, 1), workers=2)
    assert sorted(computed) == [("beam_rows", "pool")] * (2 + 4 * 2) + [("correct_counts", "pool")] * (1 + 4 * 2)
    assert list(evaluation["beam"]) == ["start", *(arm.name for arm in arms)]


def test_prover_rank_puts_the_bound_beside_the_measured_gain(tmp_path: Path, tiny_models) -> None:
    torch.set_num_threads(1)
    policy, verifier = tiny_models
    total = {"value": 0.17, "low": 0.158, "high": 0.179}
    ranking = tmp_path / "ranking.json"
    ranking.write_text(json.dumps({"ranking": [
        {"spec": "bok:16", "total": total, "distinguishability": total, "alignment": total},
        {"spec": "bok:1", "total": {"value": 0.05, "low": 0.04, "high": 0.06}, "distinguishability": total,
         "alignment": total}]}))
    skipped = EvalSettings(**{**TINY_EVALS.model_dump(), "skip": True})
    kwargs = study_kwargs(policy, verifier, evals=skipped, seeds=(0,), oracle_alphas=(), ablation=False)
    with pytest.raises(PavlabError, match="no candidate 'bok:4'"):  # the study's own prover is not ranked: no runs
        run_countdown_rl_study(CountdownRLStudyConfig(out=tmp_path / "bad", prover_rank=ranking, **kwargs))
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "study"
    run_countdown_rl_study(CountdownRLStudyConfig(out=out, prover_rank=ranking, prover_rank_spec="bok:16", **kwargs))
    summary = json.loads((out / "rl_countdown.json").read_text())["summary"]
    assert summary["prover_bound"]["spec"] == "bok:16" and summary["prover_bound"]["rank"] == 1
    gain = summary["arms"]["PAV-RL alpha 1"]["final_accuracy"] - summary["arms"]["ORM-RL"]["final_accuracy"]
    assert (f"bok:16: 0.170 [0.158, 0.179], rank 1 of 2 (best bok:16); mu = pi (bok:1): 0.050; measured: best "
            f"learned arm {100 * gain:+.1f} points vs ORM-RL |") in summary["markdown"]


def test_evals_skip_is_a_flag_beside_the_quick_preset(tmp_path: Path) -> None:
    config = CountdownRLStudyConfig.model_validate(
        {"out": tmp_path, "verifier": tmp_path, "quick": "true", "evals": {"skip": "true"}})
    assert config.evals.skip and config.evals.pass_samples == 16  # the rest of the quick `evals` stays


def test_beam_budgets_take_a_comma_list_on_the_command_line(tmp_path: Path) -> None:
    """Like every other list field of the study (a tuple type once refused `--evals.beam_budgets 16`)."""
    config = load_config(CountdownRLStudyConfig, None, ["--out", str(tmp_path), "--verifier", str(tmp_path),
                                                        "--evals.beam_budgets", "16,32"])
    assert config.evals.beam_budgets == [16, 32]


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


def test_plot_titles_shorten_long_prover_paths_only() -> None:
    assert short_prover("model:runs/ss/vscale/pav-bo16-100000/model") == "model:.../pav-bo16-100000/model"
    assert short_prover("policy:/a/b/c/policy") == "policy:.../c/policy"
    assert short_prover("model:vx/pav") == "model:vx/pav"
    assert short_prover("bok:4") == "bok:4"


def test_plot_title_names_the_provers_the_arms_read_not_the_unused_study_prover():
    arms = [RewardArm("ORM-RL"), RewardArm("Oracle", 3.0, prover="oracle"),
            RewardArm("Solver a1", 1.0, prover="solver:0.3"), RewardArm("Solver a3", 3.0, prover="solver:0.3")]
    assert provers_title(arms) == "PAV provers oracle, solver:0.3"
    assert provers_title(arms[:2]) == "PAV prover oracle"
    assert provers_title(arms[:1]) == "outcome reward only"
