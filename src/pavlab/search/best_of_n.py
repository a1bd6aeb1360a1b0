"""Search over N i.i.d. samples: best-of-N by a verifier, majority vote, and verifier-weighted vote.

All problems' samples come from one batched `policy.sample` call and all responses are scored
in one batched scorer call, so the three methods differ only in how they pick.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, get_args

from pavlab.errors import PavlabError
from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.search.outcome import SearchBatch, SearchOutcome, check_budget, make_outcome
from pavlab.search.scorers import StepScorer, aggregate
from pavlab.search.selection import pick_highest, pick_majority, pick_weighted
from pavlab.tasks.base import Problem, Task

IidMethod = Literal["best_of_n", "majority", "weighted_vote"]
IID_METHODS: tuple[str, ...] = get_args(IidMethod)


def iid_search(method: str, task: Task, policy: PolicyBackend, problems: list[Problem], n: int,
               params: SamplingParams, scorer: StepScorer | None = None, how: str = "last") -> SearchBatch:
    """Draw `n` full responses per problem and pick one by `method` ("majority" needs no scorer)."""
    if method not in IID_METHODS:
        raise PavlabError(f"unknown i.i.d. method '{method}' (expected one of {', '.join(IID_METHODS)})",
                          field="method")
    check_budget(n)
    if method != "majority" and scorer is None:
        raise PavlabError(f"method '{method}' needs a scorer", field="score")
    before = policy.meter.snapshot()
    prompts = [task.prompt(problem) for problem in problems]
    groups = policy.sample(prompts, [""] * len(problems), n, replace(params, stop="response"))
    responses = [[completion.text for completion in group] for group in groups]
    scores: list[list[float]] = [[0.0] * n for _ in problems]
    if scorer is not None and method != "majority":
        flat = scorer.score([p for p in problems for _ in range(n)],
                            [task.split_steps(text) for group in responses for text in group], policy.meter)
        scores = [[aggregate(s.steps, how) for s in flat[i * n:(i + 1) * n]] for i in range(len(problems))]
    outcomes: list[SearchOutcome] = []
    for problem, group, texts, group_scores in zip(problems, groups, responses, scores, strict=True):
        answers = [task.extract_answer(text) for text in texts]
        if method == "best_of_n":
            chosen = pick_highest(group_scores)
        elif method == "majority":
            chosen = pick_majority(answers)
        else:
            chosen = pick_weighted(answers, group_scores)
        outcomes.append(make_outcome(task, problem, texts, group_scores, chosen,
                                     sum(len(c.token_ids) for c in group), len(group)))
    return SearchBatch(outcomes, policy.meter.since(before))
