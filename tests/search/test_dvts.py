"""DVTS: N/M greedy subtrees of width M, picked by the verifier's final value, on the beam's token meter; and an
end-to-end `pavlab search` (best-of-N, beam, DVTS) scored by a third-party token-classification PRM."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Qwen2Config, Qwen2ForTokenClassification

from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, ComputeMeter, PolicyBackend, SamplingParams
from pavlab.search.dvts import dvts_search
from pavlab.search.run import run_method
from pavlab.search.scorers import OracleScorer, ResponseScores
from pavlab.tasks.base import Problem
from pavlab.tasks.countdown import CountdownTask


class DigitPolicy(PolicyBackend):
    """Candidate j of a state is the step "<depth><j>" (2 tokens); responses end after two steps."""

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        groups = []
        for prefix in prefixes:
            depth = prefix.count("\n")
            groups.append([Completion(f"{depth}{j}\n", [0, 0], [0.0, 0.0], "eos" if depth == 1 else "step")
                           for j in range(n)])
            self.meter.generated_tokens += 2 * n
        return groups


class DigitScorer:
    """Scores step "dj" by (3 * j + d) mod 4 (depth 0 prefers j = 1, depth 1 prefers j = 2 of four); the final
    value is the sum of the step scores."""

    name = "digits"

    def score(self, problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]],
              meter: ComputeMeter | None = None) -> list[ResponseScores]:
        out = []
        for steps in steps_lists:
            values = np.array([float((3 * int(s[1]) + int(s[0])) % 4) for s in steps])
            out.append(ResponseScores(values, float(values.sum()), values))
        return out


def test_each_subtree_keeps_its_best_step_and_every_sample_is_metered(small_countdown) -> None:
    problems = small_countdown.problems("test", 2)
    policy = DigitPolicy()
    batch = dvts_search(small_countdown, policy, DigitScorer(), problems, 8, SamplingParams(seed=0), width=4,
                        max_depth=5)
    for outcome in batch.outcomes:
        # 2 subtrees; each greedily keeps "01" (score 3 of 0,3,2,1) then "12" (score 3 of 1,0,3,2)
        assert outcome.responses == ["01\n12\n", "01\n12\n"]
        assert outcome.chosen == 0 and outcome.scores == [6.0, 6.0]
        assert outcome.samples == 2 * 4 * 2  # subtrees x M x depths: N step samples per depth, as in beam search
        assert outcome.generated_tokens == 2 * outcome.samples
        assert outcome.diagnostics == {"subtrees": 2, "width": 4, "distinct_per_depth": [1, 1], "depths": 4,
                                       "depths_q_differs": 0}
    assert batch.compute["generated_tokens"] == sum(o.generated_tokens for o in batch.outcomes)


def test_oracle_dvts_through_the_method_table(random_move_policy) -> None:
    task = CountdownTask()
    problems = task.problems("test", 20)
    policy = random_move_policy(task)
    dvts = run_method("dvts", task, policy, OracleScorer(task), problems, 8, SamplingParams(seed=0), candidates=4)
    bon = run_method("best_of_n", task, policy, OracleScorer(task), problems, 8, SamplingParams(seed=0))
    assert all(len(o.responses) == 2 and 1 <= o.diagnostics["distinct_per_depth"][0] <= 2 for o in dvts.outcomes)
    assert sum(o.correct for o in dvts.outcomes) > sum(o.correct for o in bon.outcomes)
    with pytest.raises(PavlabError, match="multiple of M"):
        run_method("dvts", task, policy, OracleScorer(task), problems, 6, SamplingParams(seed=0), candidates=4)
    with pytest.raises(PavlabError, match="dvts needs a step scorer"):
        run_method("dvts", task, policy, None, problems, 8, SamplingParams(seed=0), candidates=4)


@pytest.fixture
def qwen_style_prm(tmp_path: Path, tokenizer) -> Path:
    """A tiny random Qwen2 token-classification PRM on the policy's vocabulary plus <extra_0>, as a local folder."""
    tokenizer.add_tokens(["<extra_0>"], special_tokens=True)
    torch.manual_seed(0)
    model = Qwen2ForTokenClassification(Qwen2Config(
        vocab_size=len(tokenizer), num_labels=2, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256))
    folder = tmp_path / "prm"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("method", ["best_of_n", "beam", "dvts"])
def test_search_command_with_a_third_party_prm(run_cli, tmp_path, tokenizer, model_builders, qwen_style_prm,
                                               method) -> None:
    policy_dir = tmp_path / "policy"
    model_builders[0](tokenizer).save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    out = tmp_path / method
    code, _, stderr = run_cli("search", "--task.n_numbers", "3", "--task.max_number", "9", "--policy",
                              str(policy_dir), "--verifier", f"hf-prm:{qwen_style_prm}", "--score", "q",
                              "--method", method, "--n", "4", "--candidates", "2", "--problems", "2",
                              "--generation.max_new_tokens", "12", "--max_depth", "3", "--out", str(out))
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for shard in (out / "results").glob("*.jsonl") for line in shard.read_text().splitlines()]
    assert summary["problems"] == 2 and summary["mean_verifier_tokens"] > 0
    most = {"best_of_n": 4, "beam": 4, "dvts": 2}[method]  # dvts: N/M subtrees, one response each
    assert all(len(row["responses"]) == most or method == "beam" and len(row["responses"]) <= most for row in rows)
    assert summary["candidates"] == (None if method == "best_of_n" else 2)


def test_search_study_takes_a_third_party_prm(tmp_path, tokenizer, model_builders, qwen_style_prm) -> None:
    from pavlab.config import load_config
    from pavlab.io import read_json
    from pavlab.studies.search import SearchStudyConfig, run_search_study

    policy_dir = tmp_path / "policy"
    model_builders[0](tokenizer).save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    config = load_config(SearchStudyConfig, overrides={
        "task": {"name": "countdown", "n_numbers": 3, "max_number": 9}, "policy": str(policy_dir),
        "verifier": f"hf-prm:{qwen_style_prm}", "budgets": [2], "seeds": [0], "problems": 2, "max_depth": 2,
        "generation": {"max_new_tokens": 8}, "out": str(tmp_path / "study")})
    cells = read_json(run_search_study(config))["cells"]
    assert cells and all(cell["problems"] == 2 for cell in cells)
    assert all(cell["mean_verifier_tokens"] > 0 for cell in cells if cell["arm"] != "majority")
