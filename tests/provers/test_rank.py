"""Ranking candidate provers from label files: policy provers, bootstrap intervals, errors and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pavlab.errors import PavlabError
from pavlab.io import read_jsonl, write_jsonl
from pavlab.policies.base import SamplingParams
from pavlab.policies.procedural import ProceduralProverPolicy
from pavlab.provers.exact import exact_terms_planted
from pavlab.provers.rank import choose_prover, rank_provers, ranked_prover, write_ranking
from pavlab.tasks.planted import PlantedTask, exact_q_values


def planted_labels(path: Path, n_problems: int, value_gamma: float | None, policy: str = "mu:5",
                   constant: float | None = None) -> Path:
    """Seeds of mu_5 (4 per problem) labeled with exact Q^{mu_gamma}, as `pavlab label` would with n_mc -> inf."""
    task = PlantedTask()
    problems = task.problems("train", n_problems, seed=0)
    groups = ProceduralProverPolicy(task, 5).sample([task.prompt(p) for p in problems], [""] * n_problems, 4,
                                                    SamplingParams(seed=7))
    rows = []
    for problem, group in zip(problems, groups, strict=True):
        for completion in group:
            steps = task.split_steps(completion.text)
            q_hat = [constant] * (len(steps) + 1) if constant is not None else exact_q_values(problem, steps,
                                                                                              value_gamma)
            rows.append({"problem_id": problem.id, "prompt": task.prompt(problem), "steps": steps,
                         "correct": task.is_correct(completion.text, problem), "q_hat": q_hat, "policy": policy,
                         "origin": "random"})
    write_jsonl(path, rows)
    return path


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return planted_labels(tmp_path_factory.mktemp("pi") / "labels.jsonl", 60, 5)


def test_policy_prover_alignment_matches_exact_value_and_bok1_alignment_is_squared_advantage(labels, tmp_path):
    prover = planted_labels(tmp_path / "mu10.jsonl", 60, 10, policy="mu:10")
    scores = {s.spec: s for s in rank_provers([labels], ["bok:1"], [f"policy:mu:10={prover}"], resamples=100)}
    exact = exact_terms_planted(PlantedTask().problems("train", 60, seed=0), 5, 10)
    align = scores["policy:mu:10"].alignment
    assert align.low <= exact.alignment <= align.high
    assert scores["policy:mu:10"].transitions == 60 * 4 * 10
    squared_advantages = [np.diff(row["q_hat"]) ** 2 for row in read_jsonl(labels)]
    assert scores["bok:1"].alignment.value == pytest.approx(np.mean(squared_advantages), rel=1e-12)
    assert sum(s.p_best for s in scores.values()) == pytest.approx(1.0)


def test_constant_prover_has_both_terms_zero(labels, tmp_path):
    flat = planted_labels(tmp_path / "flat.jsonl", 60, None, policy="flat", constant=0.5)
    (score,) = rank_provers([labels], [], [f"policy:flat={flat}"], resamples=20)
    for term in (score.distinguishability, score.alignment, score.total):
        assert (term.value, term.low, term.high) == (0.0, 0.0, 0.0)


def test_intervals_shrink_with_more_labels(tmp_path):
    """Values of mu_15 stand in for pi's, so that most problems carry signal; 10x the problems ~ 1/3 the width."""
    few = planted_labels(tmp_path / "few.jsonl", 12, 15)
    many = planted_labels(tmp_path / "many.jsonl", 120, 15)
    (small,) = rank_provers([few], ["bok:4"], resamples=200, seed=1)
    (large,) = rank_provers([many], ["bok:4"], resamples=200, seed=1)
    for term in ("distinguishability", "alignment", "total"):
        narrow, wide = getattr(large, term), getattr(small, term)
        assert narrow.high - narrow.low < 0.6 * (wide.high - wide.low)


def subset_sum_solver_labels(path: Path, n_problems: int, good_move_prob: float) -> Path:
    """The noisy solver's own traces (4 per problem) labeled with its exact values: labels of pi = solver:P."""
    import random

    from pavlab.policies.traces import subset_sum_trace
    from pavlab.tasks.subset_sum import SubsetSumTask, solver_state_value

    task, rng, rows = SubsetSumTask(), random.Random(0), []
    for problem in task.problems("train", n_problems):
        question = (tuple(problem.meta["numbers"]), problem.meta["target"])
        for _ in range(4):
            steps = task.split_steps(subset_sum_trace(problem, rng, good_move_prob, False))
            rows.append({"problem_id": problem.id, "prompt": task.prompt(problem), "steps": steps,
                         "correct": task.is_correct("\n".join(steps), problem), "origin": "random",
                         "q_hat": [solver_state_value(*question, steps[:h], h == len(steps), good_move_prob)
                                   for h in range(len(steps) + 1)]})
    write_jsonl(path, rows)
    return path


def test_exact_solver_candidates_on_subset_sum_labels(tmp_path):
    labels = subset_sum_solver_labels(tmp_path / "solver.jsonl", 40, 0.5)
    scores = {s.spec: s for s in rank_provers([labels], ["bok:1", "solver:0.5", "solver:0", "oracle"], resamples=20)}
    # pi is solver:0.5 and its labels are exact, so the candidate solver:0.5 is mu = pi, term for term
    for term in ("distinguishability", "alignment"):
        assert getattr(scores["solver:0.5"], term).value == pytest.approx(getattr(scores["bok:1"], term).value)
    assert scores["oracle"].total.value != pytest.approx(scores["solver:0"].total.value)
    with pytest.raises(PavlabError, match="only on subset_sum labels, but a problem id is 'planted"):
        rank_provers([planted_labels(tmp_path / "planted.jsonl", 2, 5)], ["oracle"], resamples=2)


def test_choose_prover_returns_the_top_ranked_spec_with_its_reason(labels):
    scores = rank_provers([labels], ["bok:1", "bok:8", "bok:2"], resamples=30)
    assert [s.total.value for s in scores] == sorted((s.total.value for s in scores), reverse=True)
    spec, reason = choose_prover([labels], ["bok:1", "bok:8", "bok:2"], resamples=30)
    assert spec == scores[0].spec
    assert reason.startswith(spec) and f"next {scores[1].spec}" in reason


@pytest.mark.parametrize(("candidates", "prover_labels", "message"), [
    (["bok:0"], [], "K must be a positive integer"),
    (["bok:x"], [], "K must be a positive integer"),
    (["best-of-4"], [], "expected bok:K"),
    (["model:/some/verifier"], [], "cannot be ranked from labels"),
    (["policy:/ckpt"], [], "needs its labels: --prover_labels policy:/ckpt=RUN_DIR"),
    (["bok:2"], ["bok:2=/run"], "expected policy:PATH=RUN_DIR"),
    (["bok:2"], ["policy:/ckpt"], "expected policy:PATH=RUN_DIR"),
])
def test_bad_candidates_are_one_line_errors(labels, candidates, prover_labels, message):
    with pytest.raises(PavlabError, match="field") as info:
        rank_provers([labels], candidates, prover_labels)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_labels_rolled_out_by_another_policy_are_refused(labels, tmp_path):
    other = planted_labels(tmp_path / "mu30.jsonl", 4, 30, policy="mu:30")
    with pytest.raises(PavlabError, match="rolled out by 'mu:30'"):
        rank_provers([labels], [], [f"policy:mu:10={other}"])



def test_cli_writes_ranking_and_plot_and_rejects_bad_specs(run_cli, labels, tmp_path):
    out = tmp_path / "rank"
    code, stdout, _ = run_cli("prover", "rank", "--labels", str(labels), "--candidates", "bok:1,bok:4,bok:16",
                             "--resamples", "40", "--out", str(out))
    assert code == 0 and "bok:16" in stdout
    ranking = json.loads((out / "ranking.json").read_text())
    totals = [entry["total"]["value"] for entry in ranking["ranking"]]
    assert sorted(entry["spec"] for entry in ranking["ranking"]) == ["bok:1", "bok:16", "bok:4"]
    assert totals == sorted(totals, reverse=True) and np.all(np.isfinite(totals))
    assert ranking["settings"]["resamples"] == 40
    assert (out / "ranking.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli("prover", "rank", "--labels", str(labels), "--candidates", "bok:0",
                          "--out", str(tmp_path / "bad"))
    assert code == 2 and "bok:0" in err and len(err.strip().splitlines()) == 1


def test_ranked_prover_reads_one_candidate_with_its_rank_and_the_mu_is_pi_total(labels, tmp_path):
    scores = rank_provers([labels], ["bok:1", "bok:4", "bok:16"], [], resamples=20)
    ranking = write_ranking(scores, tmp_path / "rank", {})
    entry = ranked_prover(ranking, "bok:4")
    specs = [score.spec for score in scores]
    assert entry["rank"] == specs.index("bok:4") + 1 and entry["candidates"] == 3 and entry["best"] == specs[0]
    assert entry["total"] == scores[specs.index("bok:4")].total.to_dict()
    assert entry["mu_is_pi_total"] == scores[specs.index("bok:1")].total.to_dict()
    with pytest.raises(PavlabError, match=r"rank/ranking.json, field 'spec': no candidate 'bok:8' \(ranked: "):
        ranked_prover(ranking, "bok:8")
    (tmp_path / "other.json").write_text(json.dumps({"settings": {}}))
    with pytest.raises(PavlabError, match="other.json, field 'ranking': no 'ranking' list"):
        ranked_prover(tmp_path / "other.json", "bok:4")


def test_spearman_handles_ties_and_constant_inputs():
    from pavlab.provers.rank import spearman
    from pavlab.provers.rank import zero_based_ranks as average_ranks

    assert list(average_ranks([3.0, 1.0, 3.0, 2.0])) == [2.5, 0.0, 2.5, 1.0]
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))
