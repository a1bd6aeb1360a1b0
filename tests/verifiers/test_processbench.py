"""ProcessBench-format evaluation: loading, the official F1, exact oracle labels, and the file pavlab ships."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from pavlab.errors import PavlabError
from pavlab.search.scorers import OracleScorer
from pavlab.tasks.base import Problem
from pavlab.tasks.subset_sum import SubsetSumTask
from pavlab.verifiers.processbench import (
    build_processbench,
    first_flagged,
    load_processbench,
    oracle_label,
    processbench_f1,
    processbench_report,
)

PROMPT = "1 2 3 5 10 -> 13"  # 3 + 10, 1 + 2 + 10, 1 + 2 + 10 ... ; taking 5 first leaves 8 = 3 + 5? no 5 is gone


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_first_flagged_is_zero_based_and_minus_one_when_clean() -> None:
    assert first_flagged(np.array([0.9, 0.4, 0.1]), 0.5) == 1
    assert first_flagged(np.array([0.9, 0.8]), 0.5) == -1
    assert first_flagged(np.array([0.5]), 0.5) == -1  # "below" the threshold, as P(correct) < 0.5


def test_f1_is_the_harmonic_mean_of_the_two_accuracies() -> None:
    labels = [-1, -1, 1, 0, 2]
    scores = [np.array([0.9, 0.9]),        # correct, none flagged: right
              np.array([0.9, 0.1]),        # correct, flagged: wrong
              np.array([0.9, 0.2, 0.1]),   # first error 1, flagged 1: right
              np.array([0.9, 0.2]),        # first error 0, flagged 1: wrong (too late)
              np.array([0.9, 0.9, 0.3])]   # first error 2, flagged 2: right
    result = processbench_f1(labels, scores, 0.5)
    assert (result["accuracy_erroneous"], result["accuracy_correct"]) == (pytest.approx(2 / 3), 0.5)
    assert result["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert (result["erroneous"], result["correct"], result["threshold"]) == (3, 2, 0.5)


def test_report_states_threshold_and_best_threshold(tmp_path: Path) -> None:
    rows = load_processbench(write_rows(tmp_path / "pb.jsonl", [
        {"id": "a", "problem": "p", "steps": ["x", "y"], "label": -1},
        {"id": "b", "problem": "p", "steps": ["x", "y"], "label": 1}]))
    values = [np.array([0.45, 0.4]), np.array([0.45, 0.1])]
    report = processbench_report(rows, {"value": values, "advantage": [np.array([0.0, -0.05]),
                                                                        np.array([0.0, -0.35])]},
                                 {"value": 0.5, "advantage": -0.2})
    value = report["rules"]["value"]
    assert value["f1"] == 0.0 and value["threshold"] == 0.5  # 0.5 flags step 0 of both
    assert value["best_on_these_rows"]["f1"] == 1.0 and 0.1 < value["best_on_these_rows"]["threshold"] <= 0.4
    assert report["rules"]["advantage"]["f1"] == 1.0
    assert (report["solutions"], report["erroneous"], report["correct"]) == (2, 1, 1)


@pytest.mark.parametrize(("row", "field"), [
    ({"problem": "p", "steps": ["a"], "label": 1}, "label"),
    ({"problem": "p", "steps": ["a"], "label": -2}, "label"),
    ({"problem": "p", "steps": ["a"], "label": True}, "label"),
    ({"problem": "p", "steps": ["a"], "label": "0"}, "label"),
    ({"problem": "p", "steps": [], "label": -1}, "steps"),
    ({"problem": "p", "steps": "a", "label": -1}, "steps"),
    ({"problem": 3, "steps": ["a"], "label": -1}, "problem"),
    ({"problem": "p", "label": -1}, "steps"),
    ({"problem": "p", "steps": ["a"], "label": -1, "id": [1]}, "id"),
])
def test_bad_rows_name_file_line_and_field(tmp_path: Path, row: dict, field: str) -> None:
    path = write_rows(tmp_path / "pb.jsonl", [{"problem": "ok", "steps": ["s"], "label": 0}, row])
    with pytest.raises(PavlabError) as info:
        load_processbench(path)
    assert f"{path}:2" in str(info.value) and f"'{field}'" in str(info.value)


def test_empty_file_and_duplicate_ids_are_errors(tmp_path: Path) -> None:
    with pytest.raises(PavlabError, match="holds no solutions"):
        load_processbench(write_rows(tmp_path / "empty.jsonl", []))
    with pytest.raises(PavlabError, match="duplicate id"):
        load_processbench(write_rows(tmp_path / "dup.jsonl", [{"id": 1, "problem": "p", "steps": ["a"], "label": 0},
                                                              {"id": "1", "problem": "p", "steps": ["a"], "label": 0}]))


def test_oracle_labels_are_the_first_dead_step() -> None:
    # 13 from 1 2 3 5 10: 3 + 10, 1 + 2 + 10
    assert oracle_label("subset_sum", "p", PROMPT, ["3 -> 10", "10 -> 0"], True) == -1
    assert oracle_label("subset_sum", "p", PROMPT, ["10 -> 3", "2 -> 1", "3 -> 0"], False) == 2  # 1 - 3 is not 0
    assert oracle_label("subset_sum", "p", PROMPT, ["5 -> 8", "3 -> 5"], False) == 0  # 8 from 1 2 3 10: no
    assert oracle_label("subset_sum", "p", PROMPT, ["3 -> 10", "4 -> 6"], False) == 1  # 4 is not a number
    assert oracle_label("subset_sum", "p", PROMPT, ["3 -> 10"], False) is None  # stopped early, nothing wrong


def test_countdown_oracle_labels() -> None:
    prompt = "2 3 4 -> 20"
    assert oracle_label("countdown", "p", prompt, ["2 + 3 = 5", "5 * 4 = 20"], True) == -1
    assert oracle_label("countdown", "p", prompt, ["3 * 4 = 12", "12 + 2 = 14"], False) == 0  # 2 and 12 never make 20
    assert oracle_label("countdown", "p", prompt, ["2 + 3 = 5", "5 + 4 = 9"], False) == 1
    with pytest.raises(PavlabError, match="no exact oracle"):
        build_processbench("gsm8k", "unused.jsonl", per_class=1)


def test_build_is_balanced_deduplicated_and_exact(tmp_path: Path) -> None:
    samples = [("3 -> 10", "10 -> 0"), ("3 -> 10", "10 -> 0"), ("5 -> 8",), ("3 -> 10",), ("10 -> 3", "3 -> 0"),
               ("1 -> 12", "2 -> 10", "10 -> 0"), ("2 -> 11", "5 -> 6")]
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps({"problem_id": f"q{i % 2}", "sample_index": i, "prompt": PROMPT,
                                        "steps": list(steps), "correct": SubsetSumTask().is_correct(
                                            "\n".join(steps) + "\n", Problem("q", PROMPT, "13", {
                                                "numbers": [1, 2, 3, 5, 10], "target": 13}))}) + "\n"
                            for i, steps in enumerate(samples)))
    rows, counts = build_processbench("subset_sum", path, per_class=5, per_problem=5)
    assert counts["duplicates"] == 1 and counts["unlabeled"] == 1
    assert counts["correct_available"] == 3 and counts["erroneous_available"] == 2 and len(rows) == 4
    assert Counter(row.label == -1 for row in rows) == {True: 2, False: 2}
    one_each = build_processbench("subset_sum", path, per_class=5, per_problem=1)[0]
    assert len({row.extra["problem_id"] for row in one_each if row.label == -1}) == len(
        [row for row in one_each if row.label == -1])


def test_shipped_file_is_balanced_and_its_labels_are_the_oracles() -> None:
    path = Path(str(resources.files("pavlab") / "data" / "processbench_subset_sum.jsonl"))
    rows = load_processbench(path)
    labels = Counter(row.label == -1 for row in rows)
    assert labels[True] == labels[False] >= 200
    task = SubsetSumTask()
    oracle = OracleScorer(task)
    problems = [Problem(row.id, row.problem, "", dict(zip(("numbers", "target"), _parse(row.problem),
                                                          strict=True))) for row in rows]
    values = [r.values for r in oracle.score(problems, [row.steps for row in rows])]
    assert processbench_f1([row.label for row in rows], values, 0.5)["f1"] == 1.0
    assert all(oracle_label("subset_sum", row.id, row.problem, row.steps, row.extra["final_answer_correct"])
               == row.label for row in rows)


def _parse(prompt: str) -> tuple[list[int], int]:
    numbers, target = prompt.split("->")
    return [int(x) for x in numbers.split()], int(target)


def test_a_third_party_prm_is_evaluated_through_the_step_scorer(tmp_path: Path) -> None:
    """hf-prm:DIR (a tiny Qwen2.5-Math-PRM-style model): the value reading is its P(good) after each step."""
    import torch
    from transformers import Qwen2Config, Qwen2ForTokenClassification

    from pavlab.testing import char_tokenizer
    from pavlab.verifiers.evaluate import EvalVerifierConfig
    from pavlab.verifiers.processbench import run_processbench_eval
    from pavlab.verifiers.step_scores import ProcessVerifier

    tokenizer = char_tokenizer()
    tokenizer.add_tokens(["<extra_0>"], special_tokens=True)
    torch.manual_seed(0)
    model = Qwen2ForTokenClassification(Qwen2Config(
        vocab_size=len(tokenizer), num_labels=2, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)).eval()
    model.save_pretrained(tmp_path / "qwen")
    tokenizer.save_pretrained(tmp_path / "qwen")
    spec = f"hf-prm:{tmp_path / 'qwen'}"
    rows = [{"id": "a", "problem": "2 3 4 -> 20", "steps": ["2 + 3 = 5", "5 * 4 = 20"], "label": -1},
            {"id": "b", "problem": "2 3 4 -> 20", "steps": ["2 * 3 = 6", "6 + 4 = 10"], "label": 0}]
    path = write_rows(tmp_path / "pb.jsonl", rows)
    metrics = json.loads(run_processbench_eval(EvalVerifierConfig(verifier=spec, processbench=path,
                                                                  value_threshold=0.3, out=tmp_path / "eval")
                                               ).read_text())
    direct = ProcessVerifier.load(spec, "bok:1").score([r["problem"] for r in rows], [r["steps"] for r in rows])
    predictions = [json.loads(line) for line in (tmp_path / "eval" / "processbench_predictions.jsonl").open()]
    assert [p["prediction_value"] for p in predictions] == [first_flagged(d.q_pi[1:], 0.3) for d in direct]
    assert metrics["processbench"]["rules"]["value"]["threshold"] == 0.3
    assert (metrics["processbench"]["erroneous"], metrics["processbench"]["correct"]) == (1, 1)
