"""Diverse verifier tree search (DVTS, Beeching et al. 2024, search-and-learn's method).

The budget N is split into N/M independent subtrees. Each subtree starts from the bare prompt and,
at every depth, samples M next steps from its one live prefix and keeps the best of them by the
step score (greedy), until its response ends or the depth limit is reached. The N/M responses
that come out are ranked by the verifier's final value, like the beams of `beam_search`.

A subtree is a beam of width 1 with M candidates per state, so DVTS runs `beam_search` on N/M
copies of every problem and merges the copies: sampling, scoring, seeds and the token meter are
the beam's own (every sampled candidate's tokens count, as in beam search), and one batched
policy call per depth covers every subtree of every problem. Against a beam of width N/M with M
candidates, the step samples per depth are the same; what differs is that a subtree never
gives its slot to another subtree's better candidates, which keeps the N/M answers diverse.
Outcomes carry the beam's diagnostics (distinct prefixes per depth, depths where "q" would rank
differently), summed over subtrees, so a study reads DVTS cells as it reads beam cells.
"""

from __future__ import annotations

from typing import Any

from pavlab.errors import PavlabError
from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.search.beam import beam_search
from pavlab.search.outcome import SearchBatch, SearchOutcome, check_budget, make_outcome
from pavlab.search.scorers import StepScorer
from pavlab.search.selection import pick_highest
from pavlab.tasks.base import Problem, Task


def subtree_diagnostics(task: Task, subtrees: list[SearchOutcome]) -> dict[str, Any]:
    """The beam's diagnostics over a problem's subtrees: distinct kept prefixes per depth (a subtree's kept prefix
    at depth d is the first d+1 steps of its response), and the subtree-depths at which ranking by the value
    alone would have kept another step, out of all subtree-depths searched."""
    runs = [(task.split_steps(text), outcome.diagnostics["depths"]) for outcome in subtrees
            for text in outcome.responses]
    deepest = max((depths for _, depths in runs), default=0)
    return {"distinct_per_depth": [len({tuple(steps[:d + 1]) for steps, depths in runs if depths > d})
                                   for d in range(deepest)],
            "depths": sum(o.diagnostics["depths"] for o in subtrees),
            "depths_q_differs": sum(o.diagnostics["depths_q_differs"] for o in subtrees)}


def dvts_search(task: Task, policy: PolicyBackend, scorer: StepScorer, problems: list[Problem], n: int,
                params: SamplingParams, width: int = 4, max_depth: int = 10, dedup: bool = False) -> SearchBatch:
    """DVTS at budget `n` with subtree width `width` (= M): n // M subtrees per problem, each keeping its best step.

    `n` must be a multiple of `width`. Depth d samples with seed `chunk_seed(params.seed, d)`, as in beam search.
    """
    check_budget(n, width, max_depth)
    if n % width:
        raise PavlabError(f"DVTS splits the budget N = {n} into subtrees of width M = {width}: N must be a "
                          f"multiple of M", field="n")
    subtrees = n // width
    copies = [problem for problem in problems for _ in range(subtrees)]
    batch = beam_search(task, policy, scorer, copies, 1, params, candidates=width, max_depth=max_depth, dedup=dedup)
    outcomes = []
    for index, problem in enumerate(problems):
        mine = batch.outcomes[index * subtrees:(index + 1) * subtrees]
        responses = [text for outcome in mine for text in outcome.responses]
        finals = [score for outcome in mine for score in outcome.scores]
        outcome = make_outcome(task, problem, responses, finals, pick_highest(finals),
                               sum(o.generated_tokens for o in mine), sum(o.samples for o in mine))
        outcome.diagnostics = {"subtrees": subtrees, "width": width, **subtree_diagnostics(task, mine)}
        outcomes.append(outcome)
    return SearchBatch(outcomes, batch.compute)
