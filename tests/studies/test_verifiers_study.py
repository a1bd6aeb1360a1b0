"""The verifier study on a tiny random policy and hand-made subset-sum labels: subsets, files, keys, resume."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pavlab import testing
from pavlab.io import write_jsonl
from pavlab.policies.testbed import SUBSET_SUM_SYMBOLS
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.studies.verifiers import VerifierStudyConfig, run_verifier_study, take_rows
from pavlab.tasks.subset_sum import SubsetSumTask

TASK = SubsetSumTask(n_numbers=5, max_number=12, min_take=2, max_take=3)


def label_rows(split: str, problems: int) -> list[dict]:
    """Two responses per problem: a correct one (by brute force) and a first-step dead end, with counts."""
    rows = []
    for problem in TASK.problems(split, problems):
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        for steps, correct in ((solve(numbers, target), True), ([f"{max(numbers)} -> 0"], False)):
            if not correct and max(numbers) == target:
                continue
            n = len(steps) + 1
            success = [4] * n if correct else [2, 0]
            rows.append({"problem_id": problem.id, "prompt": problem.question, "steps": steps, "correct": correct,
                         "q_hat": [s / 4 for s in success[:n]], "n_success": success[:n], "n_rollouts": [4] * n})
    return rows


def solve(numbers: list[int], target: int) -> list[str]:
    from itertools import combinations
    for size in range(1, len(numbers) + 1):
        for subset in combinations(numbers, size):
            if sum(subset) == target:
                steps, need = [], target
                for x in subset:
                    need -= x
                    steps.append(f"{x} -> {need}")
                return steps
    raise AssertionError("unsolvable problem")


def test_verifier_study_trains_every_size_and_reports_orm_prm_pav(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    problem = TASK.problems("train", 1)[0]
    good, bad = label_rows("train", 1)[:2]  # the correct response is correct; the other claims a false need
    assert TASK.is_correct("\n".join(good["steps"]), problem) and not TASK.is_correct("\n".join(bad["steps"]), problem)
    tokenizer = build_number_tokenizer(40, SUBSET_SUM_SYMBOLS)
    policy = tmp_path / "policy"
    testing.tiny_llama(tokenizer, 0, tie=True).save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    write_jsonl(tmp_path / "train.jsonl", label_rows("train", 12))
    write_jsonl(tmp_path / "val.jsonl", label_rows("val", 8))
    rows, labeled = take_rows([tmp_path / "train.jsonl"], 10)
    assert labeled >= 10 and rows[-1]["problem_id"] != label_rows("train", 12)[len(rows)]["problem_id"]
    config = VerifierStudyConfig(init=str(policy), labels=[str(tmp_path / "train.jsonl")],
                                 val_labels=[str(tmp_path / "val.jsonl")], sizes=[10, 1000], steps=4, batch_size=8,
                                 pav_target_bok=2, out=tmp_path / "study")
    summary = json.loads(run_verifier_study(config).read_text())
    assert {"orm", "prm", "pav", "pav_from_prm", "scaling"} <= set(summary)
    for kind in ("orm", "prm", "pav", "pav_from_prm"):
        row = summary[kind]
        assert row["responses"] == len(label_rows("val", 8))
        assert 0 <= row["outcome_auc"] <= 1 and row["outcome_auc_ci"][0] <= row["outcome_auc_ci"][1]
        assert 0 <= row["dead_end_auc"] <= 1 and row["ece"] >= 0
    assert summary["pav_from_prm"]["calibration_target"] == "bo4_label"
    assert summary["prm"]["calibration_target"] == "q_hat"
    assert summary["pav_from_prm"]["outcome_auc"] == summary["prm"]["outcome_auc"]  # a monotone transform
    assert summary["pav"]["calibration_target"] == "bo2_label" and summary["pav"]["prover"] == "bok:2"
    assert summary["pav"]["trained_on_prover_values"]
    assert (tmp_path / "study" / "pav-bo2-10" / "model" / "verifier.json").exists()
    assert sorted({r["size"] for r in summary["scaling"]}) == [10, 1000] and len(summary["scaling"]) == 2 * 4
    small = [r for r in summary["scaling"] if r["size"] == 10][0]
    assert small["labeled_prefixes"] < summary["prm"]["labeled_prefixes"] and small["steps"] <= 4
    written = json.loads((tmp_path / "study" / "verifiers.json").read_text())
    assert written["prm"] == json.loads(json.dumps(summary["prm"]))
    stamp = (tmp_path / "study" / "orm-10" / "model" / "verifier.json").stat().st_mtime_ns
    run_verifier_study(config)  # resumes: nothing retrained
    assert (tmp_path / "study" / "orm-10" / "model" / "verifier.json").stat().st_mtime_ns == stamp
