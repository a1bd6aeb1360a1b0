"""Run folders record what produced them and refuse to resume under a changed config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pavlab.runs import git_revision, package_versions

PLANTED = ["--task.name", "planted", "--policy", "mu:5", "--problems", "4"]
JOBS = {  # job kind -> (command line for an output path, its run record relative to that path)
    "sample": (lambda out: ["sample", *PLANTED, "--n", "2", "--chunk_problems", "2", "--out", str(out)],
               "{out}.parts/sample_run.json"),
    "label": (lambda out: ["label", *PLANTED, "--n_cov", "1", "--n_mc", "2", "--chunk_problems", "2",
                           "--out", str(out)], "{out}/label_run.json"),
}


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_run_record_and_config_change(kind: str, tmp_path: Path, pavlab: Callable,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    argv, record_name = JOBS[kind]
    out = tmp_path / "run"
    code, _, err = pavlab(*argv(out), "--seed", "3")
    assert code == 0, err
    record = json.loads(Path(record_name.format(out=out)).read_text())
    assert record["kind"] == kind
    assert record["config"]["seed"] == 3 and record["config"]["task"]["name"] == "planted"
    assert record["versions"] == package_versions() and "torch" in record["versions"]
    assert record["git_revision"] == git_revision() and record["started"]

    code, _, err = pavlab(*argv(out), "--seed", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "seed: 3 -> 4" in err and "PAVLAB_ALLOW_CONFIG_CHANGE" in err

    code, _, err = pavlab(*argv(out), "--seed", "3", "--device", "cpu", "--workers", "0")
    assert code == 0, err  # execution-only fields may differ

    monkeypatch.setenv("PAVLAB_ALLOW_CONFIG_CHANGE", "1")
    code, _, err = pavlab(*argv(out), "--seed", "4")
    assert code == 0, err
    assert json.loads(Path(record_name.format(out=out)).read_text())["config"]["seed"] == 3  # first record kept


def test_a_field_added_after_the_run_started_resumes_at_its_default(tmp_path: Path, pavlab: Callable) -> None:
    argv, record_name = JOBS["label"]
    out = tmp_path / "run"
    assert pavlab(*argv(out))[0] == 0
    record_path = Path(record_name.format(out=out))
    record = json.loads(record_path.read_text())
    assert record["config"]["seeding"] == "random" and record["config"]["n_mc"] == 2
    del record["config"]["seeding"]  # as if the run predates the field: it ran as the default
    record_path.write_text(json.dumps(record))
    code, _, err = pavlab(*argv(out))
    assert code == 0, err
    del record["config"]["n_mc"]  # the default (16) is not what this command asks for (2)
    record_path.write_text(json.dumps(record))
    code, _, err = pavlab(*argv(out))
    assert code == 2 and "n_mc: 16 -> 2" in err


def test_a_run_linked_into_another_folder_resumes_there(tmp_path: Path, pavlab: Callable,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished run linked into a second study reaches the same folder under another `out`: no config change.
    A copy (another folder) still is one."""
    import shutil

    monkeypatch.chdir(tmp_path)
    argv, _ = JOBS["label"]
    assert pavlab(*argv(Path("first")))[0] == 0
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "linked").symlink_to(tmp_path / "first")
    code, _, err = pavlab(*argv(Path("study/linked")))
    assert code == 0, err
    shutil.copytree(tmp_path / "first", tmp_path / "copied")
    code, _, err = pavlab(*argv(Path("copied")))
    assert code == 2 and "out: 'first' -> 'copied'" in err
