import json

import pytest

from pavlab.errors import PavlabError
from pavlab.tasks.jsonl_task import JsonlTask


def write(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_every_split_reads_the_single_file(tmp_path):
    path = write(tmp_path / "qa.jsonl", [{"q": "1+1?", "a": 2, "src": "x"}, {"q": "2+2?", "a": "4"}])
    task = JsonlTask(path, question_field="q", answer_field="a", grader="numeric")
    problems = task.problems("train")
    assert [p.answer for p in problems] == ["2", "4"] and problems[0].meta == {"src": "x"}
    assert task.problems("test") == problems and task.problems("val", 1) == problems[:1]
    assert task.prompt(problems[0]) == "1+1?"
    assert task.is_correct("1 + 1 = 2", problems[0]) and not task.is_correct("\\boxed{3}", problems[0])


def test_split_paths_and_id_field(tmp_path):
    train = write(tmp_path / "train.jsonl", [{"id": "a", "question": "q", "answer": "x"}])
    test = write(tmp_path / "test.jsonl", [{"id": "b", "question": "q2", "answer": "y"}])
    task = JsonlTask(split_paths={"train": train, "test": test}, id_field="id", grader="exact")
    assert [p.id for p in task.problems("train")] == ["a"] and [p.id for p in task.problems("test")] == ["b"]
    with pytest.raises(PavlabError, match="no file for split 'val'"):
        task.problems("val")


@pytest.mark.parametrize(("rows", "message"), [
    ([{"question": "q", "answer": "1"}, {"question": "q"}], r"bad\.jsonl:2, field 'answer': missing"),
    ([{"question": "q", "answer": "1"}, "{not json"], r"bad\.jsonl:2: malformed JSON"),
    ([{"question": ["q"], "answer": "1"}], r"bad\.jsonl:1, field 'question'"),
    ([{"id": 1, "question": "q", "answer": "1"}, {"id": 1, "question": "r", "answer": "2"}],
     r"bad\.jsonl:2, field 'id': duplicate id"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, rows, message):
    path = write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(PavlabError, match=message):
        JsonlTask(path, id_field="id" if "id" in rows[0] else None).problems("test")


def test_bad_construction(tmp_path):
    with pytest.raises(PavlabError, match="grader"):
        JsonlTask(tmp_path / "x.jsonl", grader="fuzzy")
    with pytest.raises(PavlabError, match="needs a file"):
        JsonlTask()
    with pytest.raises(PavlabError, match="file not found"):
        JsonlTask(tmp_path / "missing.jsonl").problems("test")
