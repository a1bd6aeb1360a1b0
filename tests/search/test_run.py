from __future__ import annotations

import json
from pathlib import Path

import pytest

from pavlab.config import load_config
from pavlab.errors import PavlabError
from pavlab.search.run import SearchConfig, run_search


@pytest.fixture
def search_dirs(tmp_path: Path, tokenizer, model_builders) -> tuple[Path, Path]:
    """A tiny policy checkpoint and a random PAV verifier folder, both on the small countdown vocabulary."""
    build_llama, build_value_model = model_builders
    policy_dir, verifier_dir = tmp_path / "policy", tmp_path / "verifier"
    build_llama(tokenizer).save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    build_value_model(tokenizer).save_pretrained(verifier_dir, tokenizer)
    return policy_dir, verifier_dir



def common_args(policy_dir: Path, verifier_dir: Path, out: Path) -> list[str]:
    return ["--task.n_numbers", "3", "--task.max_number", "9", "--policy", str(policy_dir), "--verifier",
            str(verifier_dir), "--problems", "3", "--chunk_problems", "2", "--generation.max_new_tokens", "12",
            "--max_depth", "3", "--out", str(out)]


def test_search_command_writes_shards_and_summary_and_resumes(run_cli, search_dirs, tmp_path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("search", *common_args(*search_dirs, out), "--method", "beam", "--n", "2",
                                   "--score", "q+a")
    assert code == 0, stderr
    assert "accuracy" in stdout and "pass@N" in stdout
    shards = sorted((out / "results").glob("shard-*.jsonl"))
    assert len(shards) == 2
    rows = [json.loads(line) for shard in shards for line in shard.read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == len(rows) == 3
    assert summary["mean_generated_tokens"] == pytest.approx(sum(r["generated_tokens"] for r in rows) / 3)
    assert summary["mean_verifier_tokens"] > 0 and summary["n"] == 2
    assert all(len(row["responses"]) == 2 and row["method"] == "beam" for row in rows)
    stamps = [shard.stat().st_mtime_ns for shard in shards]
    code, _, stderr = run_cli("search", *common_args(*search_dirs, out), "--method", "beam", "--n", "2",
                              "--score", "q+a")
    assert code == 0, stderr
    assert [shard.stat().st_mtime_ns for shard in shards] == stamps  # finished shards are not redone
    assert json.loads((out / "summary.json").read_text())["accuracy"] == summary["accuracy"]


def test_majority_needs_no_verifier(search_dirs, tmp_path) -> None:
    policy_dir, _ = search_dirs
    config = load_config(SearchConfig, overrides={
        "task": {"name": "countdown", "n_numbers": 3, "max_number": 9}, "policy": str(policy_dir),
        "method": "majority", "n": 3, "problems": 2, "generation": {"max_new_tokens": 12}, "out": str(tmp_path / "m")})
    summary = json.loads(run_search(config).read_text())
    assert summary["problems"] == 2 and summary["mean_samples"] == 3 and summary["mean_verifier_tokens"] == 0


@pytest.mark.parametrize("extra, message", [(["--n", "0"], "field 'n'"), (["--candidates", "0"], "field 'candidates'"),
                                            (["--score", "prm"], "field 'score'"),
                                            (["--method", "mcts"], "field 'method'"),
                                            (["--prover", "bok:0"], "bad prover spec")])
def test_bad_search_configs_exit_2_with_one_line(run_cli, extra, message, search_dirs, tmp_path) -> None:
    code, _, stderr = run_cli("search", *common_args(*search_dirs, tmp_path / "bad"), *extra)
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_verifier_scores_need_a_verifier(search_dirs, tmp_path) -> None:
    config = SearchConfig(policy=str(search_dirs[0]), method="best_of_n", score="q", out=tmp_path / "x")
    with pytest.raises(PavlabError, match="needs --verifier"):
        run_search(config)
