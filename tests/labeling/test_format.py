"""The label row format: what the writer writes, the reader reads back; a bad row writes nothing."""

import pytest

from pavlab.errors import PavlabError
from pavlab.labeling.format import label_shards, read_label_rows, resolve_label_paths, write_label_rows

ROW = {"problem_id": "p", "prompt": "1 2 -> 3", "steps": ["a", "b"], "correct": True, "q_hat": [0.5, None, 1.0],
       "n_success": [1, None, 1], "n_rollouts": [2, None, 1], "origin": "first_pit", "policy": "mu:10"}


def test_written_rows_read_back(tmp_path):
    [row] = read_label_rows([write_label_rows(tmp_path / "labels.jsonl", [ROW])])
    assert (row.problem_id, row.steps, row.q_hat, row.n_rollouts) == ("p", ["a", "b"], [0.5, None, 1.0], [2, None, 1])
    assert (row.origin, row.policy) == ("first_pit", "mu:10")


def test_a_bad_row_writes_nothing(tmp_path):
    with pytest.raises(PavlabError, match="line 2|:2"):
        write_label_rows(tmp_path / "labels.jsonl", [ROW, {**ROW, "q_hat": [0.5, 2.0, 1.0]}])
    assert not (tmp_path / "labels.jsonl").exists()


def test_a_run_folder_stands_for_its_shards(tmp_path):
    label_shards(tmp_path / "run").write(0, [ROW])
    assert resolve_label_paths([tmp_path / "run"]) == [tmp_path / "run" / "labels"]
    assert [r.problem_id for r in read_label_rows(resolve_label_paths([tmp_path / "run"]))] == ["p"]
