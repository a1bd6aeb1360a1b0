from __future__ import annotations

import pytest
import torch

from pavlab.errors import PavlabError
from pavlab.policies.base import SamplingParams
from pavlab.policies.hf import HFPolicy
from pavlab.search.beam import beam_search
from pavlab.search.best_of_n import iid_search
from pavlab.search.scorers import OracleScorer, ResponseScores, build_scorer
from pavlab.tasks.countdown import CountdownTask

STEP = SamplingParams(max_new_tokens=12, seed=3)


def test_oracle_guided_beam_finds_what_the_policy_rarely_finds(random_move_policy) -> None:
    task = CountdownTask()
    problems = task.problems("test", 30)
    policy, oracle = random_move_policy(task), OracleScorer(task)
    beam = beam_search(task, policy, oracle, problems, 4, SamplingParams(seed=0), candidates=3)
    best_of_n = iid_search("best_of_n", task, policy, problems, 4, SamplingParams(seed=0), oracle)
    beam_accuracy = sum(o.correct for o in beam.outcomes) / len(problems)
    # the oracle is a perfect ORM here, so best-of-N accuracy is the policy's pass@4
    bon_accuracy = sum(o.correct for o in best_of_n.outcomes) / len(problems)
    assert bon_accuracy == sum(o.pass_at_n for o in best_of_n.outcomes) / len(problems)
    assert beam_accuracy >= 0.5 and bon_accuracy <= 0.3
    assert all(len(o.responses) <= 4 for o in beam.outcomes)


def test_alpha_zero_pav_beam_equals_q_beam(hf_policy, random_verifier, small_countdown) -> None:
    problems = small_countdown.problems("test", 3)

    def run(score: str, alpha: float) -> list[dict]:
        scorer = build_scorer(score, small_countdown, random_verifier, alpha)
        batch = beam_search(small_countdown, hf_policy, scorer, problems, 3, STEP, candidates=2, max_depth=3)
        return [o.to_row() for o in batch.outcomes]

    q_rows = run("q", 0.0)
    assert run("q+a", 0.0) == q_rows
    assert max(o["samples"] for o in q_rows) > 6  # searched past the first depth
    assert run("a", 0.0) != q_rows  # a different score really steers a different search


def test_beam_is_deterministic_in_its_seed(hf_policy, random_verifier, small_countdown) -> None:
    problems = small_countdown.problems("test", 2)
    scorer = build_scorer("q+a", small_countdown, random_verifier, 0.5)

    def run(seed: int) -> list[dict]:
        params = SamplingParams(max_new_tokens=12, seed=seed)
        return [o.to_row() for o in beam_search(small_countdown, hf_policy, scorer, problems, 2, params,
                                                candidates=2, max_depth=3).outcomes]

    first = run(7)
    assert run(7) == first
    assert run(8) != first


def test_policy_prefix_reuse_leaves_beam_results_unchanged(hf_policy, random_verifier, small_countdown) -> None:
    problems = small_countdown.problems("test", 4)
    scorer = build_scorer("q+a", small_countdown, random_verifier, 0.5)
    bias = torch.zeros(len(hf_policy.tokenizer))  # short steps, long responses: several depths to resume
    bias[hf_policy.tokenizer.convert_tokens_to_ids("\n")], bias[hf_policy.tokenizer.eos_token_id] = 2.0, -3.0
    hf_policy.model.get_output_embeddings().register_forward_hook(lambda _m, _i, out: out + bias)
    plain_policy = HFPolicy(hf_policy.model, hf_policy.tokenizer, context_cache_bytes=0)
    reused, plain = (beam_search(small_countdown, policy, scorer, problems, 4, STEP, candidates=2, max_depth=4)
                     for policy in (hf_policy, plain_policy))
    assert [o.to_row() for o in reused.outcomes] == [o.to_row() for o in plain.outcomes]
    assert max(o.diagnostics["depths"] for o in reused.outcomes) >= 3  # beams were resumed twice or more
    for key in ("generated_tokens", "samples", "verifier_tokens"):
        assert reused.compute[key] == plain.compute[key]
    # each kept beam reads its last token instead of its prompt and prefix again
    assert reused.compute["prompt_tokens"] < plain.compute["prompt_tokens"] / 2
    assert reused.compute["forward_passes"] < plain.compute["forward_passes"]
    assert hf_policy._contexts is None  # freed with the search


def test_beam_compute_accounting_adds_up(hf_policy, random_verifier, small_countdown) -> None:
    problems = small_countdown.problems("test", 3)
    scorer = build_scorer("q+a", small_countdown, random_verifier, 0.5)
    width, candidates, depth = 3, 2, 3
    batch = beam_search(small_countdown, hf_policy, scorer, problems, width, STEP, candidates=candidates,
                        max_depth=depth)
    compute = batch.compute
    assert sum(o.generated_tokens for o in batch.outcomes) == compute["generated_tokens"] > 0
    assert sum(o.samples for o in batch.outcomes) == compute["samples"]
    assert compute["verifier_passes"] == compute["samples"]  # every candidate scored once (BoK prover: one model)
    assert compute["verifier_tokens"] > compute["generated_tokens"]  # the verifier rereads prompts and prefixes
    for outcome in batch.outcomes:
        assert width * candidates <= outcome.samples <= width * candidates * depth
        assert len(outcome.responses) == width
        assert outcome.chosen is not None and outcome.scores[outcome.chosen] == max(outcome.scores)


@pytest.mark.parametrize("width, candidates, depth, field", [(0, 3, 5, "n"), (2, 0, 5, "candidates"),
                                                              (2, 3, 0, "max_depth"), (2.5, 3, 5, "n")])
def test_bad_beam_budgets_are_one_line_errors(width, candidates, depth, field, random_move_policy) -> None:
    task = CountdownTask()
    policy = random_move_policy(task)
    with pytest.raises(PavlabError, match=f"field '{field}'.*positive integer") as info:
        beam_search(task, policy, OracleScorer(task), task.problems("test", 1), width, STEP,
                    candidates=candidates, max_depth=depth)
    assert "\n" not in str(info.value) and policy.meter.samples == 0


def test_dedup_keeps_distinct_states_and_diagnostics_count_them(random_move_policy) -> None:
    # 2 3 4 -> 20 has few legal first moves, so 8 beams x 3 candidates must repeat some of them.
    task = CountdownTask(n_numbers=3, max_number=9)
    problems = task.problems("test", 6)
    policy, oracle = random_move_policy(task), OracleScorer(task)
    plain = beam_search(task, policy, oracle, problems, 8, SamplingParams(seed=0), candidates=3, max_depth=2)
    dedup = beam_search(task, policy, oracle, problems, 8, SamplingParams(seed=0), candidates=3, max_depth=2,
                        dedup=True)
    for without, with_ in zip(plain.outcomes, dedup.outcomes, strict=True):
        first_without, first_with = without.diagnostics["distinct_per_depth"][0], with_.diagnostics[
            "distinct_per_depth"][0]
        assert first_with >= first_without
        assert len(set(with_.responses)) == len(with_.responses)  # no finished response kept twice
        assert with_.diagnostics["depths"] == len(with_.diagnostics["distinct_per_depth"]) >= 1
        # the oracle's step score is its value, so ranking by value keeps the same beams
        assert with_.diagnostics["depths_q_differs"] == 0
    assert any(len(set(o.responses)) < len(o.responses) for o in plain.outcomes)  # copies without dedup
    assert sum(o.diagnostics["distinct_per_depth"][0] for o in plain.outcomes) < sum(
        o.diagnostics["distinct_per_depth"][0] for o in dedup.outcomes)


class ReversedOracle(OracleScorer):
    """Ranks steps against the oracle's values: a step score that disagrees with "q" wherever it can."""

    def score(self, problems, steps_lists, meter=None):
        return [ResponseScores(1.0 - s.values, s.final, s.values) for s in super().score(problems, steps_lists)]


def test_depths_where_the_step_score_and_q_keep_different_beams_are_counted(random_move_policy) -> None:
    task = CountdownTask()
    problems = task.problems("test", 8)
    policy = random_move_policy(task)
    agree = beam_search(task, policy, OracleScorer(task), problems, 3, SamplingParams(seed=0), candidates=3)
    differ = beam_search(task, policy, ReversedOracle(task), problems, 3, SamplingParams(seed=0), candidates=3)
    assert all(o.diagnostics["depths_q_differs"] == 0 for o in agree.outcomes)
    assert sum(o.diagnostics["depths_q_differs"] for o in differ.outcomes) > 0
    assert all(o.diagnostics["depths_q_differs"] <= o.diagnostics["depths"] for o in differ.outcomes)


def test_beam_reuses_the_verifiers_prefix_reads_with_the_same_result(hf_policy, random_verifier, small_countdown,
                                                                     monkeypatch) -> None:
    """Each depth reads only the new step of a candidate; outcomes are those of re-reading whole prefixes."""
    from contextlib import nullcontext

    problems = small_countdown.problems("test", 3)
    scorer = build_scorer("q+a", small_countdown, random_verifier, 0.5)
    reused = beam_search(small_countdown, hf_policy, scorer, problems, 3, STEP, candidates=2, max_depth=4)
    monkeypatch.setattr(type(random_verifier), "reusing_prefixes", lambda self: nullcontext())
    full = beam_search(small_countdown, hf_policy, scorer, problems, 3, STEP, candidates=2, max_depth=4)
    for a, b in zip(reused.outcomes, full.outcomes, strict=True):
        assert (a.responses, a.chosen, a.correct) == (b.responses, b.chosen, b.correct)
        assert a.scores == pytest.approx(b.scores, abs=1e-5)
    assert reused.compute["verifier_passes"] == full.compute["verifier_passes"]
    assert reused.compute["verifier_tokens"] < full.compute["verifier_tokens"]
