"""The powered search study on a tiny random policy and verifier: pool nesting, arms, CIs, resume, summary keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pavlab import testing
from pavlab.config import load_config
from pavlab.errors import PavlabError
from pavlab.io import read_json
from pavlab.studies.search_compute import (
    Curves,
    SearchComputeConfig,
    collect_curves,
    equal_compute_gain,
    run_search_compute,
    summarize,
    up_to_peak,
)


@pytest.fixture
def tiny(tmp_path: Path) -> dict:
    torch.set_num_threads(1)
    tokenizer = testing.countdown_tokenizer()
    policy, verifier, orm = tmp_path / "policy", tmp_path / "verifier", tmp_path / "orm"
    testing.tiny_llama(tokenizer, 0, tie=True).save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    testing.random_value_model(tokenizer).save_pretrained(verifier, tokenizer)
    testing.random_value_model(tokenizer, seed=3).save_pretrained(orm, tokenizer)
    return {"task": {"name": "countdown", "n_numbers": 3, "max_number": 9}, "policy": str(policy),
            "verifier": str(verifier), "orm": str(orm), "budgets": [1, 2, 4], "beam_budgets": [1, 2],
            "seeds": [0, 1], "problems": 3, "chunk_problems": 2, "max_depth": 2, "bootstrap": 100,
            "generation": {"max_new_tokens": 8}}


def test_study_writes_every_arm_with_cis_and_resumes(tmp_path: Path, tiny) -> None:
    out = tmp_path / "study"
    config = load_config(SearchComputeConfig, overrides={**tiny, "out": str(out)})
    summary = read_json(run_search_compute(config))["summary"]
    arms = summary["arms"]
    assert set(arms) == {"orm_best_of_n", "prm_best_of_n", "pass_at_n", "q_beam", "pav_beam", "oracle_beam",
                         "q_beam_dedup", "pav_beam_dedup"}
    assert summary["headline_arms"] == {"pav": "pav_beam", "q": "q_beam"}
    assert [row["n"] for row in arms["orm_best_of_n"]] == [1, 2, 4] and [row["n"] for row in arms["q_beam"]] == [1, 2]
    for name in ("orm_best_of_n", "prm_best_of_n"):  # the pool's best-of-N never beats its own pass@N
        assert all(a["accuracy"] <= p["accuracy"] for a, p in zip(arms[name], arms["pass_at_n"], strict=True))
    for rows in arms.values():
        for row in rows:
            low, high = row["accuracy_ci"]
            assert low <= row["accuracy"] <= high
            assert row["samples_per_problem"] == pytest.approx(row["tokens_per_problem"] / summary["unit_tokens"])
    # best-of-N shares one pool: its tokens at N are exactly N samples' worth on average, and grow with N
    tokens = [row["tokens_per_problem"] for row in arms["orm_best_of_n"]]
    assert tokens[0] < tokens[1] < tokens[2]
    for key in ("problems", "seeds", "accuracy_gain_vs_orm", "accuracy_gain_ci", "compute_ratio_vs_orm",
                "compute_ratio_ci", "compute_ratio_vs_q_beam", "accuracy_gain_vs_q_beam"):
        assert key in summary
    assert (summary["problems"], summary["seeds"]) == (3, 2)
    written = json.loads((out / "search_compute.json").read_text())
    assert written["summary"]["arms"] == json.loads(json.dumps(arms))
    assert "| claim | paper | measured here |" in (out / "search_compute.md").read_text()
    assert all(Path(f).stat().st_size > 1000 for f in summary["figures"])
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("**/shard-*.jsonl")}
    assert len(stamps) == 2 * 2 + 2 * 2 * 5  # pool: 2 seeds x 2 chunks; cells: 2 seeds x 2 widths x 5 beam arms
    assert read_json(run_search_compute(config))["summary"]["arms"] == arms
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_pool_nesting_and_picks_follow_the_scores() -> None:
    pool = [{"problem_id": "a", "seed": 0, "correct": [False, True, True], "tokens": [2, 4, 6],
             "orm": [0.9, 0.1, 0.5], "prm": [0.1, 0.8, 0.2]},
            {"problem_id": "b", "seed": 0, "correct": [False, False, True], "tokens": [3, 3, 3],
             "orm": [0.1, 0.2, 0.9], "prm": [0.5, 0.6, 0.1]}]
    curves = collect_curves(pool, [], [1, 2, 3], [0])
    assert curves.correct["orm_best_of_n"][2].tolist() == [[0.0, 0.0]]  # ORM picks sample 0 (a) and 1 (b)
    assert curves.correct["orm_best_of_n"][3].tolist() == [[0.0, 1.0]]
    assert curves.correct["prm_best_of_n"][2].tolist() == [[1.0, 0.0]]
    assert curves.correct["pass_at_n"][3].tolist() == [[1.0, 1.0]]
    assert curves.tokens["pass_at_n"][2].tolist() == [[6.0, 6.0]]
    assert curves.unit_tokens == pytest.approx(21 / 6)


def test_equal_compute_gain_reads_both_curves_at_the_shared_budget() -> None:
    gain, at = equal_compute_gain(([10, 100], [0.2, 0.4]), ([20, 50, 400], [0.3, 0.5, 0.9]))
    assert at == 100 and gain == pytest.approx(0.5 + 0.4 * np.log(2) / np.log(8) - 0.4)
    assert equal_compute_gain(([10, 20], [0.1, 0.2]), ([40, 80], [0.5, 0.6])) == (None, None)


def test_a_falling_baseline_is_matched_at_its_peak_not_its_last_point() -> None:
    orm = ([10.0, 20.0, 40.0, 80.0], [0.5, 0.7, 0.65, 0.6])
    assert up_to_peak(orm) == ([10.0, 20.0], [0.5, 0.7])
    method = ([5.0, 10.0, 20.0], [0.55, 0.62, 0.72])
    from pavlab.studies.search_efficiency import efficiency
    assert efficiency(orm, method)["ratio"] > efficiency(up_to_peak(orm), method)["ratio"]


def test_bootstrap_ci_excludes_zero_only_for_a_real_gap() -> None:
    rng = np.random.default_rng(0)
    shape = (1, 400)

    def arm(rate: float, tokens: float) -> dict:
        return {n: (rng.random(shape) < rate * (1 + np.log2(n) / 10)).astype(float) for n in (1, 2, 4)}, {
            n: np.full(shape, tokens * n) for n in (1, 2, 4)}

    correct, tokens = {}, {}
    for name, rate, cost in (("orm_best_of_n", 0.3, 10), ("prm_best_of_n", 0.3, 10), ("pass_at_n", 0.5, 10),
                             ("pav_beam", 0.6, 10), ("q_beam", 0.3, 10)):
        correct[name], tokens[name] = arm(rate, cost)
    summary = summarize(Curves(correct, tokens, 10.0), resamples=200)
    assert summary["accuracy_gain_ci"][0] > 0.1
    assert summary["vs_orm"]["q_beam"]["gain_ci"][0] < 0 < summary["vs_orm"]["q_beam"]["gain_ci"][1]


def test_parts_split_the_jobs_and_the_last_part_writes_the_summary(tmp_path: Path, tiny) -> None:
    out = tmp_path / "parts"
    overrides = {**tiny, "seeds": [0], "beam_budgets": [1], "oracle": False, "compare_dedup": False, "out": str(out)}
    first = run_search_compute(load_config(SearchComputeConfig, overrides={**overrides, "parts": 2, "part": 0}))
    assert first is None and not (out / "search_compute.json").exists()
    assert len(list(out.glob("**/shard-*.jsonl"))) == 2  # jobs 0 and 2 of 4 (2 pool chunks, 2 beam cells)
    second = run_search_compute(load_config(SearchComputeConfig, overrides={**overrides, "parts": 2, "part": 1}))
    assert second == out / "search_compute.json" and read_json(second)["summary"]["problems"] == 3


def test_dvts_and_dedup_arms_join_a_finished_study_without_redoing_it(tmp_path: Path, tiny, monkeypatch) -> None:
    out = tmp_path / "study"
    base = {**tiny, "out": str(out), "seeds": [0], "compare_dedup": False, "oracle": False, "dedup": True}
    first = read_json(run_search_compute(load_config(SearchComputeConfig, overrides=base)))["summary"]
    assert first["headline_arms"] == {"pav": "pav_beam", "q": "q_beam"}  # no other setting was run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("**/shard-*.jsonl")}
    with pytest.raises(PavlabError, match="not multiples of dvts_subtree 2"):
        load_config(SearchComputeConfig, overrides={**base, "dvts_budgets": [3], "dvts_subtree": 2})
    monkeypatch.setenv("PAVLAB_ALLOW_CONFIG_CHANGE", "1")  # the study's record gains the DVTS fields
    with_dvts = {**base, "dvts_budgets": [2, 4], "dvts_subtree": 2, "compare_dedup": True}
    summary = read_json(run_search_compute(load_config(SearchComputeConfig, overrides=with_dvts)))["summary"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # pool and beam cells reused
    for arm, cells in (("pav_dvts", 2), ("q_dvts", 2), ("q_beam_no_dedup", 2), ("pav_beam_no_dedup", 2)):
        assert len(list((out / "cells" / arm).glob("shard-*.jsonl"))) == cells  # 2 budgets or widths, 1 seed
    assert [row["n"] for row in summary["arms"]["pav_dvts"]] == [2, 4] and "q_dvts" in summary["vs_orm"]
    assert summary["headline_arms"] == {"pav": "pav_beam_no_dedup", "q": "q_beam_no_dedup"}
    assert summary["accuracy_gain_vs_orm"] == summary["vs_orm"]["pav_beam_no_dedup"]["gain_at_equal_tokens"]
    assert "| pav_dvts |" in (out / "search_compute.md").read_text()


def test_cli_prints_a_part_then_the_section_from_the_written_summary(tmp_path: Path, tiny, run_cli) -> None:
    args = ["study", "search-compute", "--task.name", "countdown", "--task.n_numbers", "3", "--task.max_number", "9",
            "--policy", tiny["policy"], "--verifier", tiny["verifier"], "--budgets", "[1, 2]", "--beam_budgets",
            "[1]", "--seeds", "[0]", "--problems", "2", "--max_depth", "2", "--bootstrap", "100", "--oracle",
            "false", "--compare_dedup", "false", "--generation.max_new_tokens", "8", "--parts", "2",
            "--out", str(tmp_path / "cli")]
    code, out, _ = run_cli(*args, "--part", "0")
    assert code == 0 and "part 0 of 2 done; the other parts are still running" in out
    code, out, _ = run_cli(*args, "--part", "1")
    assert code == 0 and "| claim | paper | measured here |" in out
    assert "search_compute.json, search_compute.md and accuracy_vs_tokens.png, accuracy_vs_n.png" in " ".join(
        out.split())  # rich wraps long lines
