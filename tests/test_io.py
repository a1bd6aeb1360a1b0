import pytest

from pavlab.errors import PavlabError
from pavlab.io import atomic_open, read_jsonl, write_jsonl


def test_jsonl_round_trip(tmp_path):
    rows = [{"a": 1, "s": "ünï"}, {"a": 2, "s": "x"}]
    assert write_jsonl(tmp_path / "f.jsonl", rows) == 2
    assert read_jsonl(tmp_path / "f.jsonl") == rows


def test_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(PavlabError, match=r"f.jsonl:3"):
        read_jsonl(path)


def test_missing_field_named(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"a": 1}\n{"b": 1}\n')
    with pytest.raises(PavlabError, match=r"f.jsonl:2.*field 'a'"):
        read_jsonl(path, required=("a",))


def test_atomic_open_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write("new")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]
