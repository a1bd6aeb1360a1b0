"""Every search study in a tiny configuration (random tiny policy and verifier): cells, files, keys, resuming."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pavlab.cli import main
from pavlab.config import load_config
from pavlab.io import read_json, write_jsonl
from pavlab.provers.rank import DEFAULT_CANDIDATES, choose_prover
from pavlab.studies.search import ARMS, SearchStudyConfig, run_search_study
from pavlab.studies.search_alpha import AlphaSweepConfig, run_alpha_sweep
from pavlab.studies.search_exploration import ExplorationConfig, run_exploration_study
from pavlab.studies.search_provers import ProverSweepConfig, run_prover_sweep
from pavlab.studies.search_rerank import RerankConfig, run_rerank_study


@pytest.fixture
def tiny(tmp_path: Path, tokenizer, model_builders) -> dict[str, Any]:
    """Overrides shared by the tiny studies: a random Llama policy and a random Q^pi verifier on disk."""
    build_llama, build_value_model = model_builders
    policy_dir, verifier_dir = tmp_path / "policy", tmp_path / "verifier"
    build_llama(tokenizer).save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    build_value_model(tokenizer).save_pretrained(verifier_dir, tokenizer)
    return {"task": {"name": "countdown", "n_numbers": 3, "max_number": 9}, "policy": str(policy_dir),
            "verifier": str(verifier_dir), "budgets": [1, 2], "seeds": [0], "problems": 2, "max_depth": 2,
            "generation": {"max_new_tokens": 8}}


def read_outputs(out: Path, kind: str) -> dict[str, Any]:
    data = json.loads((out / f"{kind}.json").read_text())
    with (out / f"{kind}.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(data["cells"])
    assert "| claim | paper | measured here |" in (out / f"{kind}.md").read_text()
    for figure in data["summary"]["figures"]:
        assert Path(figure).stat().st_size > 1000
    return data


def test_search_study_writes_every_cell_and_resumes(tmp_path: Path, tiny) -> None:
    out = tmp_path / "study"
    config = load_config(SearchStudyConfig, overrides={**tiny, "seeds": [0, 1], "out": str(out)})
    cells = read_json(run_search_study(config))["cells"]
    assert sorted((c["arm"], c["n"], c["seed"]) for c in cells) == sorted(
        (arm, n, seed) for arm in ARMS for n in (1, 2) for seed in (0, 1))
    for cell in cells:
        assert cell["problems"] == 2 and 0.0 <= cell["accuracy"] <= cell["pass_at_n"] <= 1.0
        per_sample = 1 if cell["arm"] == "orm_best_of_n" else config.candidates
        assert cell["mean_samples"] >= cell["n"] * per_sample
    data = read_outputs(out, "search_study")
    assert {Path(f).name for f in data["summary"]["figures"]} == {"accuracy_vs_n.png", "accuracy_vs_tokens.png"}
    for arm in ("q_beam", "pav_beam"):
        assert set(data["summary"]["efficiency"][arm]) == {"tokens", "samples"}
        for reading in data["summary"]["efficiency"][arm].values():
            assert reading["bound"] in ("exact", "at_least", "unreached", "trivial")
            assert (reading["ratio"] is None) == (reading["bound"] in ("unreached", "trivial"))
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("shard-*.jsonl")}
    assert read_json(run_search_study(config))["cells"] == cells
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert data["cells"] == cells


def test_quick_preset_fills_only_unset_fields(tiny, tmp_path: Path) -> None:
    quick = load_config(AlphaSweepConfig, overrides={**tiny, "quick": True, "problems": 3, "out": str(tmp_path)})
    assert (quick.alphas, quick.width, quick.problems) == ([0.0, 0.5, 1.0], 4, 3)
    assert load_config(SearchStudyConfig, overrides={**tiny, "out": str(tmp_path)}).budgets == [1, 2]


def test_alpha_sweep_chooses_on_val_and_tests_the_choice(tmp_path: Path, tiny) -> None:
    out = tmp_path / "alpha"
    config = load_config(AlphaSweepConfig, overrides={**tiny, "alphas": [0.0, 1.0, 4.0], "width": 2,
                                                      "out": str(out)})
    summary = read_json(run_alpha_sweep(config))["summary"]
    cells = read_outputs(out, "search_alpha")["cells"]
    val = {c["arm"]: c["accuracy"] for c in cells if c["split"] == "val"}
    assert list(val) == ["alpha=0", "alpha=1", "alpha=4"]
    assert summary["chosen_alpha"] == [0.0, 1.0, 4.0][int(np.argmax(list(val.values())))]
    tested = {c["arm"] for c in cells if c["split"] == "test"}
    assert tested == {f"alpha={summary['chosen_alpha']:g}", "alpha=0"}
    assert all(c["n"] == 2 for c in cells)


def test_prover_sweep_runs_bok_and_checkpoint_provers(tmp_path: Path, tiny, tokenizer, model_builders) -> None:
    other = tmp_path / "other_verifier"
    model_builders[1](tokenizer, seed=5).save_pretrained(other, tokenizer)
    out = tmp_path / "provers"
    config = load_config(ProverSweepConfig, overrides={**tiny, "bok": [1, 4], "extra_provers": [f"model:{other}"],
                                                       "out": str(out)})
    summary = read_json(run_prover_sweep(config))["summary"]
    cells = read_outputs(out, "search_provers")["cells"]
    specs = {"bok:1", "bok:4", f"model:{other}"}
    assert {(c["arm"], c["n"]) for c in cells} == {(s, n) for s in specs for n in (1, 2)}
    assert set(summary["best_prover_per_n"].values()) <= specs
    assert summary["bok4_beats_bok2_everywhere"] is None  # Bo2 was not run


def test_exploration_and_rerank_with_auto_prover(tmp_path: Path, tiny) -> None:
    out = tmp_path / "explore"
    run_exploration_study(load_config(ExplorationConfig, overrides={**tiny, "out": str(out)}))
    cells = read_outputs(out, "search_exploration")["cells"]
    assert {c["arm"] for c in cells} == {"iid_sampling", "q_beam", "pav_beam"}
    assert all(c["mean_samples"] == c["n"] for c in cells if c["arm"] == "iid_sampling")

    labels = tmp_path / "labels.jsonl"  # two problems, each a state with one good and one bad next step
    write_jsonl(labels, [{"problem_id": pid, "prompt": pid, "steps": ["a", step], "correct": q == 1.0,
                          "q_hat": [0.4, 0.5, q], "policy": None, "origin": "random"}
                         for pid, branches in (("p1", (("b", 1.0), ("c", 0.0))), ("p2", (("e", 0.0), ("f", 1.0))))
                         for step, q in branches])
    out = tmp_path / "rerank"
    result = read_json(run_rerank_study(load_config(RerankConfig, overrides={
        **tiny, "prover": "auto", "labels": str(labels), "out": str(out)})))
    expected, reason = choose_prover([labels])
    assert result["prover"] == expected in DEFAULT_CANDIDATES and result["prover_choice"] == reason
    cells = read_outputs(out, "search_rerank")["cells"]
    by_arm = {arm: [(c["n"], c["mean_generated_tokens"]) for c in cells if c["arm"] == arm]
              for arm in ("orm_best_of_n", "pav_rerank")}
    assert by_arm["orm_best_of_n"] == by_arm["pav_rerank"]  # same seed: the same samples, only the pick differs


def test_cli_quick_study_prints_its_section(tmp_path: Path, tiny, monkeypatch, capsys) -> None:
    out = tmp_path / "cli"
    argv = ["pavlab", "study", "search-rerank", "--quick", "--budgets", "[1]", "--problems", "1",
            "--policy", tiny["policy"], "--verifier", tiny["verifier"], "--task.name", "countdown",
            "--task.n_numbers", "3", "--task.max_number", "9", "--generation.max_new_tokens", "8", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "Command: `pavlab study search-rerank --quick --budgets [1]" in printed
    data = read_outputs(out, "search_rerank")
    assert data["config"]["seeds"] == [0] and {c["n"] for c in data["cells"]} == {1}  # quick preset + override
