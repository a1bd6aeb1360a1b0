"""The planted RL study in a tiny configuration: files, keys and numbers."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import torch

from pavlab.policies.testbed import TestbedConfig
from pavlab.studies.rl import (
    PlantedRLStudyConfig,
    bare_prompt_values,
    horizon_mismatch,
    markdown_section,
    max_new_tokens,
    planted_task,
    run_planted_rl_study,
    start_horizon,
    train_planted_start,
)
from pavlab.tasks.planted import PlantedTask

TINY_MODEL = TestbedConfig(hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2, steps=2, batch_size=8,
                           progress=False)
TINY_RL = {"problems_per_iteration": 2, "group_size": 2, "eval_problems": 6, "eval_samples": 1}


def test_tiny_study_writes_json_csv_png(tmp_path, capsys):
    torch.set_num_threads(1)
    start = train_planted_start(tmp_path / "start", problems=12, samples=2, model=TINY_MODEL)
    study_file = run_planted_rl_study(PlantedRLStudyConfig(out=tmp_path / "study", gammas=[10.0], seeds=[0],
                                                           iterations=2, orm_factor=2, start_policy=start,
                                                           settings=TINY_RL, horizon=12))
    # a horizon-10 start in a horizon-12 study is run, with a one-line warning
    assert capsys.readouterr().err.count("warning: start policy") == 1
    data = json.loads((tmp_path / "study" / "rl_planted.json").read_text())
    assert study_file == tmp_path / "study" / "rl_planted.json"
    summary = data["summary"]
    # the horizon reaches every run's task and the generation length, and the saturation measure is reported
    assert data["settings"]["horizon"] == 12 and data["settings"]["max_new_tokens"] == 28
    run = json.loads((tmp_path / "study" / "runs" / "PAV-RL_mu_10" / "seed0" / "rl_run.json").read_text())
    assert run["config"]["task"]["horizon"] == 12 and run["config"]["max_new_tokens"] == 28
    assert summary["prover_values"] == bare_prompt_values([10.0], PlantedTask(12).problems("test", 6), 12)
    assert "(didactic), horizon 12" in summary["markdown"]
    assert "Prover saturation at horizon 12: V^mu(prompt)" in summary["markdown"]
    assert {"settings", "arms", "curves", "summary"} <= data.keys()
    names = {arm["name"] for arm in data["arms"]}
    assert names == {"ORM-RL", "PAV-RL mu_10", "Q+aQ^mu mu_10", "ORM-RL x2 samples"}
    with open(tmp_path / "study" / "rl_planted.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["arm"] for row in rows} == names
    assert all(0.0 <= float(row["test_accuracy"]) <= 1.0 for row in rows)
    # start and end: 2 iterations x 2 problems x 2 responses; the long ORM-RL reference runs 4 iterations
    assert sorted({int(row["samples"]) for row in rows if row["arm"] != "ORM-RL x2 samples"}) == [0, 8]
    assert sorted({int(row["samples"]) for row in rows if row["arm"] == "ORM-RL x2 samples"}) == [0, 8, 16]
    assert summary["efficiency_reference"] == "ORM-RL x2 samples"
    assert summary["sample_efficiency"]["PAV-RL mu_10"]["orm_samples"] in (0, 16, None)
    for row in summary["arms"].values():
        assert 0.0 <= row["final_min"] <= row["final_accuracy"] <= row["final_max"] <= 1.0
        assert 0.0 <= row["final_matched_prefix"] <= 5.0
    assert set(summary["sample_efficiency"]) == {"PAV-RL mu_10"}
    assert "| paper | measured |" in summary["markdown"]
    assert (tmp_path / "study" / "rl_planted.png").stat().st_size > 0

    for row in summary["arms"].values():
        assert len(row["final_rule_probabilities"]) == 5 and all(0 <= p <= 1 for p in row["final_rule_probabilities"])
    assert "P(y*_k+1 in state k)" in summary["markdown"]


def test_rule_probabilities_read_each_match_state(monkeypatch):
    """A stand-in policy that knows the rule in states 0 and 1 only: the diagnostic must show exactly that."""
    from types import SimpleNamespace

    from pavlab.policies.testbed_tokenizer import build_number_tokenizer
    from pavlab.policies.tokenization import encode_prompt, encode_response
    from pavlab.studies import rl as study
    from pavlab.tasks.planted import VOCAB_SIZE, PlantedTask, match_states, target_of

    task, tokenizer = PlantedTask(), build_number_tokenizer(VOCAB_SIZE, [])

    class RuleModel(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            out = torch.zeros(*input_ids.shape, len(tokenizer))
            for row, (ids, mask) in enumerate(zip(input_ids, attention_mask, strict=True)):
                context = ids[: int(mask.sum())].tolist()
                problem, prefix = contexts[tuple(context)]
                state = match_states(target_of(problem), task.counted_tokens(prefix))[-1]
                if state < 2:
                    out[row, int(mask.sum()) - 1, encode_response(tokenizer, str(target_of(problem)[state]))[0][0]] = 50
            return SimpleNamespace(logits=out)

    contexts: dict[tuple[int, ...], tuple] = {}

    def context_ids(prompt: str, prefix: str) -> list[int]:
        ids = encode_prompt(tokenizer, prompt) + encode_response(tokenizer, prefix)[0]
        contexts[tuple(ids)] = (task.problem_from_prompt(prompt), prefix)
        return ids

    stub = SimpleNamespace(model=RuleModel(), tokenizer=tokenizer, context_ids=context_ids)
    monkeypatch.setattr(study, "load_policy", lambda _: stub)
    probabilities = study.rule_probabilities("stand-in", problems=20)
    assert probabilities[0] > 0.99 and probabilities[1] > 0.99
    assert all(abs(p - 1 / len(tokenizer)) < 1e-6 for p in probabilities[2:])


def test_the_shipped_start_is_a_mu5_clone():
    """The shipped planted start (what the study and the demo RL from) puts mu_5's 5/18 on y* in every match state."""
    from pavlab.policies.testbed import shipped_testbed
    from pavlab.studies.rl import rule_probabilities

    torch.set_num_threads(1)
    probabilities = rule_probabilities(shipped_testbed("planted"), problems=100)
    assert all(0.2 < p < 0.35 for p in probabilities), probabilities


def test_arms_trained_in_two_processes_match_one(tmp_path):
    from pavlab.rl.config import RLConfig
    from pavlab.studies.rl import SHARED_SETTINGS, study_arms
    from pavlab.studies.rl_curves import run_arms
    from pavlab.tasks.registry import TaskConfig

    torch.set_num_threads(1)
    start = train_planted_start(tmp_path / "start", problems=12, samples=2, model=TINY_MODEL)
    arms = study_arms((10.0,), 3.0, None)

    def configs(root):
        return lambda arm, seed: RLConfig(task=TaskConfig(name="planted"), policy=str(start), seed=seed, iterations=2,
                                          out=root / arm.folder / f"seed{seed}", **{**SHARED_SETTINGS, **TINY_RL},
                                          eval_every=2, **arm.overrides())

    one = run_arms(arms, (0, 1), configs(tmp_path / "one"))
    two = run_arms(arms, (0, 1), configs(tmp_path / "two"), workers=2)
    assert one.curves == two.curves and list(two.run_dirs["ORM-RL"]) == [0, 1]


def test_horizon_10_keeps_the_recorded_study():
    """The default horizon runs what the published study ran, and its summary re-renders unchanged."""
    assert max_new_tokens(10) == 24 and "horizon" not in planted_task(10).model_dump()
    data = json.loads((Path(__file__).parents[2] / "docs" / "results" / "rl_planted.json").read_text())
    command = re.search(r"Command: `(.*?)`", data["summary"]["markdown"]).group(1)
    assert markdown_section(data["summary"], command) == data["summary"]["markdown"]


def test_a_start_trained_at_the_study_horizon_is_recorded_and_not_warned_about(tmp_path):
    """`train_planted_start(horizon=H)` trains on H-step traces and records H; a start of another horizon warns."""
    from pavlab.policies.testbed import shipped_testbed

    start = train_planted_start(tmp_path / "start", problems=4, samples=1, model=TINY_MODEL, horizon=12)
    assert json.loads((start / "testbed.json").read_text())["task_options"] == {"horizon": 12}
    assert start_horizon(start) == 12 and horizon_mismatch(start, 12) is None
    assert start_horizon(shipped_testbed("planted")) == 10 and horizon_mismatch(shipped_testbed("planted"), 10) is None
    warning = horizon_mismatch(shipped_testbed("planted"), 30)
    assert warning is not None and "\n" not in warning
    assert "trained on 10-step traces but the study's horizon is 30" in warning and "--horizon 30" in warning
    assert start_horizon(tmp_path) is None and horizon_mismatch(tmp_path, 30) is None  # no testbed.json: no record
