"""The planted study's learned PAV: labels from the prover's rollouts, value models, and the RL arm that reads them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from pavlab.io import read_jsonl
from pavlab.policies.testbed import TestbedConfig
from pavlab.studies import planted_pav
from pavlab.studies.planted_pav import LearnedPavSettings, fit_to_exact
from pavlab.studies.rl import PlantedRLStudyConfig, run_planted_rl_study, train_planted_start
from pavlab.tasks.planted import PlantedTask

TINY_MODEL = TestbedConfig(hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2, steps=2, batch_size=8,
                           progress=False)
TINY_RL = {"problems_per_iteration": 2, "group_size": 2, "eval_problems": 6, "eval_samples": 1}
TINY_PAV = LearnedPavSettings(problems=6, policy_seeds=2, prover_seeds=1, cover_seeds=1, n_mc=2, steps=3,
                              batch_size=8)


def test_learned_arm_trains_on_the_prover_models_the_study_built(tmp_path):
    torch.set_num_threads(1)
    start = train_planted_start(tmp_path / "start", problems=12, samples=2, model=TINY_MODEL)
    out = tmp_path / "study"
    run_planted_rl_study(PlantedRLStudyConfig(out=out, gammas=[], learned_gammas=[10.0], learned=TINY_PAV, seeds=[0],
                                              iterations=2, orm_factor=1, ablation_gamma=None, start_policy=start,
                                              settings=TINY_RL, learned_ablation=True))
    data = json.loads((out / "rl_planted.json").read_text())
    assert [arm["name"] for arm in data["arms"]] == ["ORM-RL", "Learned-PAV-RL mu_10", "Learned Q+aQ^mu mu_10"]
    # RL reads the advantages (or, in the ablation, the values) from the model the study trained, never from the
    # exact mu:10 values
    for folder, reward in (("Learned-PAV-RL_mu_10", "advantage"), ("Learned_Q+aQ^mu_mu_10", "q_plus_q_mu")):
        run = json.loads((out / "runs" / folder / "seed0" / "rl_run.json").read_text())["config"]
        # a model: prover is its own verifier: the run records no Q^pi verifier, since it reads none
        assert run["prover"] == f"model:{out / 'pav' / 'q-mu10'}" and run["verifier"] is None
        assert run["reward"] == reward and run["alpha"] == 3.0
    assert (out / "pav" / "q-mu10" / "verifier.json").is_file()
    from_pi = read_jsonl(next((out / "pav" / "labels-mu10-from-pi" / "labels").glob("*.jsonl")))
    from_prover = read_jsonl(next((out / "pav" / "labels-mu10-from-mu10" / "labels").glob("*.jsonl")))
    from_cover = read_jsonl(next((out / "pav" / "labels-mu10-from-mu30" / "labels").glob("*.jsonl")))
    # the prover's rollouts label every prefix, whoever wrote the seed response
    assert {row["policy"] for row in from_pi + from_prover + from_cover} == {"mu:10"}
    assert {row["seed_policy"] for row in from_pi} == {str(start)}
    assert {row["seed_policy"] for row in from_prover} == {"mu:10"}
    assert {row["seed_policy"] for row in from_cover} == {"mu:30"}
    assert len(from_pi) == 6 * 2 and len(from_prover) == len(from_cover) == 6 * 1
    assert json.loads((out / "pav" / "q-mu10" / "train_config.json").read_text())["label_paths"] == [
        str(out / "pav" / f"labels-mu10-from-{who}" / "labels") for who in ("pi", "mu10", "mu30")]
    assert sorted(path.name for path in (out / "pav").iterdir()) == [  # a model: prover needs no Q^pi model
        "labels-mu10-from-mu10", "labels-mu10-from-mu30", "labels-mu10-from-pi", "q-mu10"]
    summary = data["summary"]
    fit = summary["learned_pav_fit"]["10"]
    assert set(fit) == {"start policy", "mu_10"}
    assert fit["mu_10"]["success"] > fit["start policy"]["success"] >= 0.0  # mu_10's own responses succeed more
    assert "The learned mu_10 model against mu_10's exact values" in summary["markdown"]
    assert "Learned-PAV-RL mu_10" in summary["sample_efficiency"]
    assert "| Learned-PAV-RL mu_10: a PAV learned" in summary["markdown"]
    assert "| Learned Q+aQ^mu mu_10 (values, not advantages) |" in summary["markdown"]
    assert all(row["final_response_tokens"] > 0 for row in summary["arms"].values())
    assert data["settings"]["learned"]["problems"] == 6


def test_a_study_needs_a_pav_arm(tmp_path):
    with pytest.raises(ValidationError, match="no PAV-RL arm"):
        PlantedRLStudyConfig(out=tmp_path, gammas=[], learned_gammas=[])


def test_fit_to_exact_scores_a_perfect_model_as_perfect_and_a_constant_one_as_blind(monkeypatch):
    task = PlantedTask()

    def exact_scores(model, tokenizer, prompts, steps_lists, separator):
        problems = [task.problem_from_prompt(prompt) for prompt in prompts]
        return [np.asarray(task.q_values(p, list(s), 10.0)) for p, s in zip(problems, steps_lists, strict=True)]

    class Info:
        step_separator = "\n"

    class Model:
        info = Info()

    monkeypatch.setattr(planted_pav, "load_value_model", lambda path: (Model(), None))
    monkeypatch.setattr(planted_pav, "score_prefixes", exact_scores)
    mu_30 = {"mu_30": "mu:30"}
    fit = fit_to_exact("unused", 10.0, mu_30, horizon=10, max_new_tokens=24, problems=20, samples=2)["mu_30"]
    assert fit["value_mae"] == 0.0 and fit["value_corr"] == pytest.approx(1.0)
    assert fit["advantage_corr"] == pytest.approx(1.0) and fit["advantage_sd"] == fit["exact_advantage_sd"] > 0
    assert 0.0 < fit["success"] < 1.0

    monkeypatch.setattr(planted_pav, "score_prefixes",
                        lambda model, tokenizer, prompts, steps_lists, separator: [np.full(len(s) + 1, 0.5)
                                                                                   for s in steps_lists])
    with np.errstate(invalid="ignore", divide="ignore"):
        blind = fit_to_exact("unused", 10.0, mu_30, horizon=10, max_new_tokens=24, problems=20, samples=2)["mu_30"]
    assert blind["advantage_sd"] == 0.0 and math.isnan(blind["advantage_corr"]) and blind["value_mae"] > 0.1
