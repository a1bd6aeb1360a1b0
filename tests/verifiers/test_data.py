from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pavlab.errors import PavlabError
from pavlab.labeling.format import read_label_rows as load_labels
from pavlab.policies.tokenization import encode_prompt
from pavlab.verifiers.data import build_examples
from pavlab.verifiers.positions import build_scoring_inputs


def label_row(**overrides: Any) -> dict[str, Any]:
    row = {"problem_id": "p1", "prompt": "2+3?", "steps": ["2+3=5.", "answer 5."], "correct": True,
           "q_hat": [0.5, 0.75, None], "n_success": [2, 3, None], "n_rollouts": [4, 4, None],
           "policy": "ckpt", "seed": 0, "seed_index": 0}
    row.update(overrides)
    return row


def write_rows(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_loads_valid_rows_from_files_and_shard_folders(tmp_path: Path) -> None:
    (tmp_path / "shards").mkdir()
    write_rows(tmp_path / "shards" / "b.jsonl", [label_row(problem_id="b")])
    write_rows(tmp_path / "shards" / "a.jsonl", [label_row(problem_id="a"), label_row(problem_id="a2")])
    write_rows(tmp_path / "single.jsonl", [label_row(q_hat=[0.0, 1, 1.0], n_success=None, n_rollouts=None)])
    rows = load_labels([tmp_path / "shards", tmp_path / "single.jsonl"])
    assert [row.problem_id for row in rows] == ["a", "a2", "b", "p1"]
    assert rows[0].q_hat == [0.5, 0.75, None]
    assert rows[3].q_hat == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("overrides, field", [
    ({"q_hat": [0.5, 1.2, None], "n_success": None, "n_rollouts": None}, "q_hat"),
    ({"q_hat": [0.5, True, None], "n_success": None, "n_rollouts": None}, "q_hat"),
    ({"q_hat": [0.5, 0.75]}, "q_hat"),
    ({"q_hat": [0.5, 0.5, None]}, "q_hat"),
    ({"n_success": [5, 3, None]}, "n_success"),
    ({"n_success": [2, 3]}, "n_success"),
    ({"n_rollouts": [4, None, None]}, "n_success"),
    ({"n_rollouts": None}, "n_success"),
    ({"steps": "2+3=5."}, "steps"),
    ({"correct": "yes"}, "correct"),
])
def test_bad_rows_name_file_line_and_field(tmp_path: Path, overrides: dict[str, Any], field: str) -> None:
    path = write_rows(tmp_path / "labels.jsonl", [label_row(), label_row(**overrides)])
    with pytest.raises(PavlabError) as caught:
        load_labels([path])
    message = str(caught.value)
    assert f"{path}:2" in message and f"field '{field}'" in message and "\n" not in message


def test_missing_field_and_missing_paths(tmp_path: Path) -> None:
    row = label_row()
    del row["q_hat"]
    path = write_rows(tmp_path / "labels.jsonl", [row])
    with pytest.raises(PavlabError, match="labels.jsonl:1, field 'q_hat'"):
        load_labels([path])
    with pytest.raises(PavlabError, match="label file not found"):
        load_labels([tmp_path / "absent.jsonl"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PavlabError, match="no \\*.jsonl label shards"):
        load_labels([tmp_path / "empty"])


def test_examples_target_labeled_positions_or_the_outcome(tmp_path: Path, tokenizer) -> None:
    rows = load_labels([write_rows(tmp_path / "l.jsonl", [label_row(correct=False)])])
    _, positions = build_scoring_inputs(tokenizer, "2+3?", ["2+3=5.", "answer 5."], "\n")
    [pav] = build_examples(rows, tokenizer, "pav")
    assert pav.positions == positions[:2] and pav.targets == [0.5, 0.75]
    [orm] = build_examples(rows, tokenizer, "orm")
    assert orm.positions == [positions[-1]] and orm.targets == [0.0]


def test_truncation_drops_positions_past_max_length(tmp_path: Path, tokenizer) -> None:
    rows = load_labels([write_rows(tmp_path / "l.jsonl", [label_row()])])
    prompt_len = len(encode_prompt(tokenizer, "2+3?"))
    [cut] = build_examples(rows, tokenizer, "pav", max_length=prompt_len + 3)
    assert len(cut.input_ids) == prompt_len + 3 and cut.targets == [0.5]
    assert build_examples(rows, tokenizer, "orm", max_length=prompt_len + 3) == []


def test_best_of_k_targets_come_from_the_rollout_counts() -> None:
    from pavlab.labeling.format import LabeledResponse
    from pavlab.verifiers.data import bok_targets

    row = LabeledResponse("p", "1 2 -> 3", ["1 -> 2 | 2", "2 -> 0 |"], True, [0.25, 0.5, 1.0], [16, 2, 1])
    # 4 of 16 rollouts succeeded: Bo4 fails only if 4 drawn without replacement all failed, C(12,4)/C(16,4);
    # 2 rollouts cannot estimate Bo4; the finished response is its outcome
    assert bok_targets(row, 4) == pytest.approx([1 - 495 / 1820, None, 1.0])
    assert bok_targets(row, 1) == pytest.approx([0.25, 0.5, 1.0])
    with pytest.raises(PavlabError, match="rollout counts"):
        bok_targets(LabeledResponse("p", "1 2 -> 3", ["x"], False, [0.5, 0.0]), 4)


def test_a_bok_verifier_config_records_its_prover() -> None:
    from pavlab.verifiers.train import VerifierTrainConfig

    assert VerifierTrainConfig(kind="pav", target_bok=8).recorded_prover == "bok:8"
    with pytest.raises(ValueError, match="per-step verifier"):
        VerifierTrainConfig(kind="orm", target_bok=8)
    with pytest.raises(ValueError, match="not one of prover bok:2"):
        VerifierTrainConfig(kind="pav", target_bok=8, prover="bok:2")
