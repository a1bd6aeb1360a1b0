"""End to end: `pavlab processbench build` from sampled responses, then `pavlab eval-verifier --processbench`."""

from __future__ import annotations

import json
from pathlib import Path

from pavlab.policies.testbed_tokenizer import build_number_tokenizer

PROMPT = "1 2 3 5 10 -> 13"
SAMPLES = [(["3 -> 10 | 1 2 5 10", "10 -> 0 | 1 2 5"], True), (["5 -> 8 | 1 2 3 10"], False),
           (["10 -> 3 | 1 2 3 5", "3 -> 0 | 1 2 5"], True), (["2 -> 11 | 1 3 5 10", "5 -> 6 | 1 3 10"], False),
           (["1 -> 12 | 2 3 5 10"], False)]
TINY = ["--scratch.hidden_size", "16", "--scratch.num_layers", "1", "--scratch.num_heads", "2",
        "--scratch.intermediate_size", "32"]


def test_build_then_evaluate(run_cli, tmp_path: Path) -> None:
    build_number_tokenizer(30, ["->", "|"]).save_pretrained(tmp_path / "tok")
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"problem_id": "p", "prompt": PROMPT, "steps": steps, "correct": ok,
                                          "q_hat": [0.5] + [1.0 if ok else 0.0] * len(steps)}) + "\n"
                              for steps, ok in SAMPLES))
    code, _, err = run_cli("train-verifier", "--kind", "prm", "--labels", str(labels), "--out", str(tmp_path / "prm"),
                           "--tokenizer", str(tmp_path / "tok"), "--steps", "2", "--batch_size", "4", "--warmup", "1",
                           *TINY)
    assert code == 0, err
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": f"q{i}", "sample_index": 0, "prompt": PROMPT, "steps": steps,
                                           "correct": ok}) + "\n" for i, (steps, ok) in enumerate(SAMPLES)))
    code, out, err = run_cli("processbench", "build", "--task", "subset_sum", "--samples", str(samples),
                             "--per_class", "5", "--out", str(tmp_path / "pb.jsonl"))
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "pb.jsonl").read_text().splitlines()]
    assert sorted(row["label"] for row in rows) == [-1, -1, 0, 1]  # balanced 2 + 2; the early stop has no label
    assert "1 without a first error or an answer" in " ".join(out.split())

    code, out, err = run_cli("eval-verifier", "--verifier", str(tmp_path / "prm"), "--processbench",
                             str(tmp_path / "pb.jsonl"), "--as_prover", "bok:4", "--out", str(tmp_path / "eval"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    report = metrics["processbench"]
    assert (report["solutions"], report["erroneous"], report["correct"]) == (4, 2, 2)
    assert report["rules"]["value"]["threshold"] == 0.5 and report["rules"]["advantage"]["threshold"] == -0.2
    assert 0.0 <= report["rules"]["value"]["f1"] <= 1.0 and metrics["verifier"]["read_as"] == "bok:4"
    predictions = [json.loads(line) for line in (tmp_path / "eval" / "processbench_predictions.jsonl").open()]
    assert [p["id"] for p in predictions] == [row["id"] for row in rows]
    assert all(-1 <= p["prediction_value"] < 2 for p in predictions)
    assert "F1" in out and "best threshold" in out

    code, _, err = run_cli("eval-verifier", "--verifier", str(tmp_path / "prm"), "--processbench",
                           str(tmp_path / "pb.jsonl"), "--labels", str(labels), "--out", str(tmp_path / "x"))
    assert code == 2 and "--processbench" in err and "Traceback" not in err
