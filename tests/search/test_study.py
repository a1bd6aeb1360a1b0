from __future__ import annotations

import csv
import json
from pathlib import Path

from pavlab.config import load_config
from pavlab.studies.search import ARMS, SearchStudyConfig, run_search_study


def test_search_study_writes_every_cell_and_resumes(tmp_path: Path, tokenizer, model_builders) -> None:
    build_llama, build_value_model = model_builders
    policy_dir, verifier_dir, out = tmp_path / "policy", tmp_path / "verifier", tmp_path / "study"
    build_llama(tokenizer).save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    build_value_model(tokenizer).save_pretrained(verifier_dir, tokenizer)
    config = load_config(SearchStudyConfig, overrides={
        "task": {"name": "countdown", "n_numbers": 3, "max_number": 9}, "policy": str(policy_dir),
        "verifier": str(verifier_dir), "budgets": [1, 2], "seeds": [0, 1], "problems": 2, "max_depth": 2,
        "generation": {"max_new_tokens": 8}, "out": str(out)})
    result = run_search_study(config)
    cells = result["cells"]
    assert sorted((c["arm"], c["n"], c["seed"]) for c in cells) == sorted(
        (arm, n, seed) for arm in ARMS for n in (1, 2) for seed in (0, 1))
    for cell in cells:
        assert cell["problems"] == 2 and 0.0 <= cell["accuracy"] <= cell["pass_at_n"] <= 1.0
        per_sample = 1 if cell["arm"] == "orm_best_of_n" else config.candidates
        assert cell["mean_samples"] >= cell["n"] * per_sample
    with (out / "search_study.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(cells)
    assert (out / "accuracy_vs_n.png").stat().st_size > 1000
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("shard-*.jsonl")}
    assert run_search_study(config)["cells"] == cells
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert json.loads((out / "search_study.json").read_text())["cells"] == cells
