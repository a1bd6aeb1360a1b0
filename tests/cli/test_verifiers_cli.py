"""End to end: `pavlab train-verifier` then `pavlab eval-verifier --task countdown` on tiny label files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.verifiers.model import ValueModel

TINY = ["--scratch.hidden_size", "16", "--scratch.num_layers", "1", "--scratch.num_heads", "2",
        "--scratch.intermediate_size", "32"]
# (steps, correct, q_hat) on "2 3 4 -> 20": one solution, two dead ends, one early stop
ROWS = [(["2 + 3 = 5", "5 * 4 = 20"], True, [0.4, 0.8, 1.0]),
        (["3 * 4 = 12", "12 + 2 = 14"], False, [0.4, 0.0, 0.0]),
        (["2 + 3 = 5", "5 + 4 = 9"], False, [0.4, 0.8, 0.0]),
        (["2 * 4 = 8"], False, [0.4, None])]



def write_labels(path: Path, rows: list[tuple[list[str], bool, list[float | None]]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"problem_id": f"p{i}", "prompt": "2 3 4 -> 20", "steps": steps,
                                        "correct": correct, "q_hat": q_hat}) + "\n"
                            for i, (steps, correct, q_hat) in enumerate(rows)))
    return path


@pytest.fixture
def tokenizer_dir(tmp_path: Path) -> Path:
    build_number_tokenizer(30, ["+", "-", "*", "/", "=", "|", "->"]).save_pretrained(tmp_path / "tok")
    return tmp_path / "tok"


def test_train_then_eval_writes_metrics_and_reliability_plot(run_cli, tmp_path: Path, tokenizer_dir: Path) -> None:
    write_labels(tmp_path / "label_run" / "labels" / "shard-00000.jsonl", ROWS)
    code, out, err = run_cli("train-verifier", "--kind", "pav", "--prover", "bok:4", "--labels",
                            str(tmp_path / "label_run"), "--out", str(tmp_path / "pav"), "--tokenizer",
                            str(tokenizer_dir), "--steps", "3", "--batch_size", "4", "--warmup", "1",
                            "--device", "cpu", *TINY)
    assert code == 0, err
    model = ValueModel.from_pretrained(tmp_path / "pav")
    assert (model.info.kind, model.info.prover) == ("pav", "bok:4")

    code, out, err = run_cli("eval-verifier", "--verifier", str(tmp_path / "pav"), "--labels",
                            str(tmp_path / "label_run"), "--task", "countdown", "--value_threshold", "0.3",
                            "--out", str(tmp_path / "eval"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["responses"] == 4 and metrics["calibration"]["states"] == 10
    assert metrics["oracle"]["dead_prefixes"] == 4 and metrics["oracle"]["skipped_responses"] == 0
    value_rule = metrics["oracle"]["first_error"]["value"]
    assert value_rule["threshold"] == 0.3 and (value_rule["erroneous"], value_rule["correct"]) == (3, 1)
    assert (tmp_path / "eval" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert "dead-end AUC" in out and "metrics.json" in out


@pytest.mark.parametrize("case", ["missing labels", "q_hat above one"])
def test_bad_inputs_exit_2_with_one_line(run_cli, tmp_path: Path, tokenizer_dir: Path, case: str) -> None:
    labels = tmp_path / "nowhere"
    if case == "q_hat above one":
        labels = write_labels(tmp_path / "bad.jsonl", [(["2 + 3 = 5"], False, [0.4, 1.5])])
    code, out, err = run_cli("train-verifier", "--labels", str(labels), "--out", str(tmp_path / "v"),
                            "--tokenizer", str(tokenizer_dir), "--steps", "1", *TINY)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(labels) in err
    assert ("not found" in err) if case == "missing labels" else ("q_hat" in err and ":1" in err)
    code, out, err = run_cli("eval-verifier", "--verifier", str(tmp_path / "nope"), "--labels",
                            str(labels), "--out", str(tmp_path / "e"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "verifier directory not found" in err
