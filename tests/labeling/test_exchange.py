"""PRM data in and out: pavlab labels <-> TRL stepwise, Math-Shepherd, soft-value and PRM800K rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pavlab.errors import PavlabError
from pavlab.labeling.exchange import (
    TAG,
    LabelsExportConfig,
    LabelsImportConfig,
    export_labels,
    import_rows,
    run_labels_export,
    run_labels_import,
)
from pavlab.labeling.format import read_label_rows, write_label_rows

FORMATS = ["trl", "math-shepherd", "soft", "prm800k"]
LABELS = [
    {"problem_id": "p1", "prompt": "1 2 3 5 10 -> 13", "steps": ["3 -> 10 | 1 2 5 10", "10 -> 0 | 1 2 5"],
     "correct": True, "q_hat": [0.25, 0.5, 1.0]},
    {"problem_id": "p1", "prompt": "1 2 3 5 10 -> 13", "steps": ["5 -> 8 | 1 2 3 10", "3 -> 5 | 1 2 10", "x"],
     "correct": False, "q_hat": [0.25, 0.0, None, 0.0]},  # cut before the unlabeled state: 1 step exported
    {"problem_id": "p2", "prompt": "Natalia sold 48 clips.\nHow many?", "steps": ["48 / 2 = 24", "48 + 24 = 72",
                                                                                   "The answer is 72"],
     "correct": True, "q_hat": [0.5, 0.0625, 0.75, 1.0]},
    {"problem_id": "p3", "prompt": "2 3 -> 5", "steps": ["2 -> 3"], "correct": False, "q_hat": [0.5, None]},  # skipped
]


def labels_file(tmp_path: Path, rows: list[dict] = LABELS) -> Path:
    return write_label_rows(tmp_path / "labels.jsonl", rows)


def write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n"
                            for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(fmt: str, tmp_path: Path) -> None:
    said: list[str] = []
    out = run_labels_export(LabelsExportConfig(format=fmt, labels=[str(labels_file(tmp_path))],
                                               out=tmp_path / "out.jsonl"), echo=said.append)
    assert out == tmp_path / "out.jsonl"
    assert said == [f"wrote 3 {fmt} rows to {out} (of 4 responses: 1 cut before an unlabeled state, 1 with no "
                    "labeled step skipped)"]
    back = run_labels_import(LabelsImportConfig(format=fmt, file=out, out=tmp_path / "back.jsonl"), echo=said.append)
    assert said[-1] == f"wrote 3 labeled responses to {back}"
    rows = read_label_rows([back])
    assert [(r.prompt, r.steps) for r in rows] == [(LABELS[0]["prompt"], LABELS[0]["steps"]),
                                                   (LABELS[1]["prompt"], LABELS[1]["steps"][:1]),
                                                   (LABELS[2]["prompt"], LABELS[2]["steps"])]
    assert [r.correct for r in rows] == [True, False, True]
    assert rows[0].problem_id == rows[1].problem_id != rows[2].problem_id  # one id per question
    if fmt == "soft":  # values as they are, the prompt's too
        assert [r.q_hat for r in rows] == [[0.25, 0.5, 1.0], [0.25, 0.0], [0.5, 0.0625, 0.75, 1.0]]
    else:  # hard labels at the default threshold 0: positive iff some rollout succeeded
        assert [r.q_hat for r in rows] == [[None, 1.0, 1.0], [None, 0.0], [None, 1.0, 1.0, 1.0]]
    again = run_labels_export(LabelsExportConfig(format=fmt, labels=[str(back)], out=tmp_path / "again.jsonl"))
    assert again.read_text() == out.read_text()


def test_threshold_is_explicit(tmp_path: Path) -> None:
    responses = read_label_rows([labels_file(tmp_path, [{"problem_id": "p", "prompt": "q", "steps": ["a", "b", "c"],
                                                         "correct": True, "q_hat": [0.5, 0.0625, 0.5, 1.0]}])])
    rows, _ = export_labels(responses, "trl", threshold=0.5)
    assert rows[0]["labels"] == [False, False, True]  # 0.0625 and 0.5 are not above 0.5
    rows, _ = export_labels(responses, "trl")
    assert rows[0]["labels"] == [True, True, True]


def test_exported_rows_have_the_field_shapes(tmp_path: Path) -> None:
    path = labels_file(tmp_path)
    responses = read_label_rows([path])
    shepherd = export_labels(responses, "math-shepherd")[0][2]
    assert shepherd["input"] == (f"Natalia sold 48 clips.\nHow many? Step 1: 48 / 2 = 24 {TAG}\n"
                                 f"Step 2: 48 + 24 = 72 {TAG}\nStep 3: The answer is 72 {TAG}")
    assert shepherd["label"] == shepherd["input"].replace(TAG, "+")
    prm800k = export_labels(responses, "prm800k")[0][1]
    assert prm800k["question"]["problem"] == LABELS[1]["prompt"]
    assert prm800k["label"]["steps"] == [{"completions": [{"text": "5 -> 8 | 1 2 3 10", "rating": -1, "flagged": None}],
                                          "human_completion": None, "chosen_completion": 0}]
    assert prm800k["label"]["finish_reason"] == "found_error"


def test_reads_the_fields_own_rows(tmp_path: Path) -> None:
    """Rows written the way the public data sets write them (not pavlab's exports)."""
    shepherd = write_rows(tmp_path / "ms.jsonl", [{
        "input": f"Tom has 3 apples and buys 2. How many now? Step 1: 3 + 2 = <<3+2=5>>5. {TAG}\n"
                 f"Step 2: The answer is: 5 {TAG}",
        "label": "Tom has 3 apples and buys 2. How many now? Step 1: 3 + 2 = <<3+2=5>>5. +\nStep 2: The answer is: 5 -",
        "task": "GSM8K"}])
    (row,) = import_rows(shepherd, "math-shepherd")
    assert row["prompt"] == "Tom has 3 apples and buys 2. How many now?"
    assert row["steps"] == ["3 + 2 = <<3+2=5>>5.", "The answer is: 5"]
    assert row["q_hat"] == [None, 1.0, 0.0] and row["correct"] is False

    trl = write_rows(tmp_path / "trl.jsonl", [{"prompt": "q", "completions": ["a", "b"], "labels": [True, False]}])
    assert import_rows(trl, "trl")[0]["q_hat"] == [None, 1.0, 0.0]

    def step(*ratings: int, chosen: int | None = 0, human: dict | None = None) -> dict:
        return {"completions": [{"text": f"s{i}{r}", "rating": r, "flagged": False} for i, r in enumerate(ratings)],
                "human_completion": human, "chosen_completion": chosen}

    prm800k = write_rows(tmp_path / "prm800k.jsonl", [
        {"labeler": "x", "question": {"problem": "q1", "ground_truth_answer": "1"},
         "label": {"steps": [step(1), step(0, 1, chosen=1), step(1, -1, chosen=None)], "finish_reason": "found_error"}},
        {"question": {"problem": "q2"},
         "label": {"steps": [step(0), step(-1, chosen=None, human={"text": "fixed", "rating": None}), step(1)],
                   "finish_reason": "solution"}}])
    first, second = import_rows(prm800k, "prm800k", neutral=0.25)
    assert first["steps"] == ["s01", "s11", "s1-1"] and first["q_hat"] == [None, 1.0, 1.0, 0.0]
    assert first["correct"] is False
    assert second["steps"] == ["s00", "fixed", "s01"] and second["q_hat"] == [None, 0.25, 1.0, 1.0]
    assert second["correct"] is True


@pytest.mark.parametrize(("fmt", "row", "field"), [
    ("trl", {"prompt": "q", "completions": ["a"], "labels": [True, False]}, "labels"),
    ("trl", {"prompt": "q", "completions": [], "labels": []}, "completions"),
    ("trl", {"prompt": "q", "completions": ["a"], "labels": ["yes"]}, "labels"),
    ("trl", {"prompt": "q", "completions": ["a"], "labels": [1.5]}, "labels"),
    ("trl", {"completions": ["a"], "labels": [True]}, "prompt"),
    ("math-shepherd", {"input": "q Step 1: a", "label": "q Step 1: a"}, "input"),
    ("math-shepherd", {"input": f"q a {TAG}", "label": "q a +"}, "input"),
    ("math-shepherd", {"input": f"q Step 1: a {TAG}", "label": "q Step 1: a ?"}, "label"),
    ("math-shepherd", {"input": f"q Step 1: a {TAG}", "label": "q Step 1: b +"}, "label"),
    ("math-shepherd", {"input": f"q Step 1: a {TAG} tail", "label": "q Step 1: a + tail"}, "input"),
    ("math-shepherd", {"input": f"q Step 1: a {TAG}"}, "label"),
    ("soft", {"input": f"q Step 1: a {TAG}\nStep 2: b {TAG}", "label": [0.5]}, "label"),
    ("soft", {"input": f"q Step 1: a {TAG}", "label": [2.0]}, "label"),
    ("soft", {"input": f"q Step 1: a {TAG}", "label": [0.5], "prompt_value": "high"}, "prompt_value"),
    ("prm800k", {"question": "q", "label": {"steps": []}}, "question"),
    ("prm800k", {"question": {"problem": "q"}, "label": {"steps": []}}, "label"),
    ("prm800k", {"question": {"problem": "q"}, "label": {"steps": [
        {"completions": [{"text": "a", "rating": 1}], "chosen_completion": 3}]}}, "label.steps[0].chosen_completion"),
    ("prm800k", {"question": {"problem": "q"}, "label": {"steps": [
        {"completions": [{"text": "a", "rating": 2}], "chosen_completion": 0}]}},
     "label.steps[0].completions[0].rating"),
    ("prm800k", {"question": {"problem": "q"}, "label": {"steps": [
        {"completions": [{"text": 5, "rating": 1}], "chosen_completion": 0}]}}, "label.steps[0].completions[0].text"),
])
def test_bad_rows_name_file_line_and_field(tmp_path: Path, fmt: str, row: dict, field: str) -> None:
    good = {"trl": {"prompt": "q", "completions": ["a"], "labels": [True]},
            "math-shepherd": {"input": f"q Step 1: a {TAG}", "label": "q Step 1: a +"},
            "soft": {"input": f"q Step 1: a {TAG}", "label": [0.5]},
            "prm800k": {"question": {"problem": "q"}, "label": {"steps": [
                {"completions": [{"text": "a", "rating": 1}], "chosen_completion": 0}], "finish_reason": "solution"}}}
    path = write_rows(tmp_path / "in.jsonl", [good[fmt], row])
    assert import_rows(write_rows(tmp_path / "good.jsonl", [good[fmt]]), fmt)  # the good row alone imports
    with pytest.raises(PavlabError) as info:
        import_rows(path, fmt)
    assert f"{path}:2" in str(info.value) and f"field '{field}'" in str(info.value), str(info.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file_is_an_error(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(PavlabError, match="holds no rows"):
        import_rows(write_rows(tmp_path / "empty.jsonl", []), fmt)


def test_tag_in_text_cannot_be_exported_as_math_shepherd(tmp_path: Path) -> None:
    rows = [{**LABELS[0], "steps": [f"3 {TAG}", "10"]}]
    responses = read_label_rows([labels_file(tmp_path, rows)])
    with pytest.raises(PavlabError, match="step tag"):
        export_labels(responses, "math-shepherd")
    assert export_labels(responses, "trl")[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_load_with_datasets(fmt: str, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = run_labels_export(LabelsExportConfig(format=fmt, labels=[str(labels_file(tmp_path))],
                                               out=tmp_path / f"{fmt}.jsonl"))
    loaded = datasets.load_dataset("json", data_files=str(out), split="train")
    assert len(loaded) == 3
    if fmt == "trl":
        assert loaded[0]["labels"] == [True, True] and loaded[0]["completions"] == LABELS[0]["steps"]


def test_cli_export_and_import(run_cli, tmp_path: Path) -> None:
    labels = labels_file(tmp_path)
    code, out, err = run_cli("labels", "export", "--format", "trl", "--labels", str(labels), "--threshold", "0.5",
                             "--out", str(tmp_path / "trl.jsonl"))
    assert code == 0, err
    assert "3 trl rows" in out.replace("\n", " ")
    code, out, err = run_cli("labels", "import", "--format", "trl", "--file", str(tmp_path / "trl.jsonl"),
                             "--out", str(tmp_path / "back.jsonl"))
    assert code == 0, err
    assert [r.q_hat for r in read_label_rows([tmp_path / "back.jsonl"])][0] == [None, 0.0, 1.0]
    code, _, err = run_cli("labels", "import", "--format", "tfds", "--file", str(tmp_path / "trl.jsonl"),
                           "--out", str(tmp_path / "x.jsonl"))
    assert code == 2 and "'format'" in err and "Traceback" not in err
