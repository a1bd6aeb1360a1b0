from __future__ import annotations

import pytest

from pavlab.errors import PavlabError
from pavlab.policies.base import SamplingParams
from pavlab.search.beam import beam_search
from pavlab.search.best_of_n import iid_search
from pavlab.search.scorers import build_scorer

PARAMS = SamplingParams(max_new_tokens=24, seed=5)


def test_iid_methods_at_equal_n_spend_equal_generation_budgets(hf_policy, random_verifier, small_countdown) -> None:
    problems = small_countdown.problems("test", 3)
    scorer = build_scorer("q", small_countdown, random_verifier)
    batches = {method: iid_search(method, small_countdown, hf_policy, problems, 4, PARAMS, scorer)
               for method in ("best_of_n", "majority", "weighted_vote")}
    generation = ("prompt_tokens", "generated_tokens", "forward_passes", "samples")
    reference = batches["best_of_n"].compute
    assert reference["samples"] == 4 * len(problems)
    for batch in batches.values():
        assert {k: batch.compute[k] for k in generation} == {k: reference[k] for k in generation}
        assert [o.responses for o in batch.outcomes] == [o.responses for o in batches["best_of_n"].outcomes]
        assert sum(o.generated_tokens for o in batch.outcomes) == batch.compute["generated_tokens"]
    assert batches["majority"].compute["verifier_tokens"] == 0
    assert reference["verifier_passes"] == 4 * len(problems)
    assert batches["weighted_vote"].compute["verifier_tokens"] == reference["verifier_tokens"] > 0


def test_best_of_n_picks_the_highest_aggregate(hf_policy, random_verifier, small_countdown) -> None:
    problems = small_countdown.problems("test", 2)
    scorer = build_scorer("q+a", small_countdown, random_verifier)
    for how in ("last", "min", "prod"):
        batch = iid_search("best_of_n", small_countdown, hf_policy, problems, 4, PARAMS, scorer, how)
        for outcome in batch.outcomes:
            assert outcome.scores[outcome.chosen] == max(outcome.scores)


def test_budget_n_is_what_both_methods_return(hf_policy, random_verifier, small_countdown) -> None:
    """At budget N both methods hand N responses to the final pick; beam pays C samples per beam and depth."""
    problems = small_countdown.problems("test", 2)
    scorer = build_scorer("q+a", small_countdown, random_verifier)
    bon = iid_search("best_of_n", small_countdown, hf_policy, problems, 3, PARAMS, scorer)
    beam = beam_search(small_countdown, hf_policy, scorer, problems, 3, PARAMS, candidates=2, max_depth=2)
    assert [len(o.responses) for o in bon.outcomes] == [len(o.responses) for o in beam.outcomes] == [3, 3]
    assert bon.compute["samples"] == 6 and 12 <= beam.compute["samples"] <= 24


@pytest.mark.parametrize("method, n, scorer_needed, message", [
    ("best_of_n", 0, True, "field 'n'.*positive integer"),
    ("best_of_n", 4, False, "needs a scorer"),
    ("beam", 4, True, "unknown i.i.d. method 'beam'"),
])
def test_bad_iid_requests_are_one_line_errors(method, n, scorer_needed, message, hf_policy, random_verifier,
                                              small_countdown) -> None:
    scorer = build_scorer("q", small_countdown, random_verifier) if scorer_needed else None
    with pytest.raises(PavlabError, match=message) as info:
        iid_search(method, small_countdown, hf_policy, small_countdown.problems("test", 1), n, PARAMS, scorer)
    assert "\n" not in str(info.value) and hf_policy.meter.samples == 0
