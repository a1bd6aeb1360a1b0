"""The planted RL study in a tiny configuration: files, keys and numbers."""

from __future__ import annotations

import csv
import json

import torch

from pavlab.policies.testbed import TestbedConfig
from pavlab.studies.rl import run_planted_rl_study, train_planted_start

TINY_MODEL = TestbedConfig(hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2, steps=2, batch_size=8,
                           progress=False)
TINY_RL = {"problems_per_iteration": 2, "group_size": 2, "eval_problems": 6, "eval_samples": 1}


def test_tiny_study_writes_json_csv_png(tmp_path):
    torch.set_num_threads(1)
    start = train_planted_start(tmp_path / "start", problems=12, samples=2, model=TINY_MODEL)
    summary = run_planted_rl_study(tmp_path / "study", gammas=(10.0,), seeds=(0,), iterations=2,
                                   start_policy=start, settings=TINY_RL)
    data = json.loads((tmp_path / "study" / "rl_planted.json").read_text())
    assert {"settings", "arms", "curves", "summary"} <= data.keys()
    names = {arm["name"] for arm in data["arms"]}
    assert names == {"ORM-RL", "PAV-RL mu_10", "Q+aQ^mu mu_10"}
    with open(tmp_path / "study" / "rl_planted.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["arm"] for row in rows} == names
    assert all(0.0 <= float(row["test_accuracy"]) <= 1.0 for row in rows)
    assert sorted({int(row["samples"]) for row in rows}) == [0, 8]  # start and end: 2 iterations x 2 x 2 responses
    for row in summary["arms"].values():
        assert 0.0 <= row["final_min"] <= row["final_accuracy"] <= row["final_max"] <= 1.0
        assert 0.0 <= row["final_matched_prefix"] <= 5.0
    assert set(summary["sample_efficiency"]) == {"PAV-RL mu_10"}
    assert "| paper | measured |" in summary["markdown"]
    assert (tmp_path / "study" / "rl_planted.png").stat().st_size > 0

