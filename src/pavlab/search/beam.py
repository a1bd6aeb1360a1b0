"""Step-level beam search guided by a step scorer (the paper's PAV beam search when the score is "q+a").

Every problem starts from B copies of the empty response. At each depth every live beam of every
problem samples C next steps in ONE batched `policy.sample(stop="step")` call, all candidates are
scored in ONE batched scorer call, and each problem keeps its top candidates by the score of the
new step. A kept candidate that ended the response (EOS or length) is set aside and uses up one
of the B slots, so at most B responses per problem come out: the budget N of the paper is B.
Beams still alive at the depth limit join the finished ones, and the final answer is the
response with the best final value (the Q^pi model acting as an ORM).

Two things the paper leaves open are options here. With `dedup`, identical candidates of one
problem (the same prefix extended by the same step) count once: otherwise a few likely steps
fill the beam with copies and it explores fewer distinct states than its width. And each
outcome records diagnostics: the distinct prefixes kept per depth, and at how many depths
ranking by Q^pi alone would have kept a different set (where "q+a" and "q" actually differ).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.search.outcome import SearchBatch, check_budget, make_outcome
from pavlab.search.scorers import StepScorer, retain_prefixes, reusing_prefixes
from pavlab.search.selection import pick_highest
from pavlab.shards import chunk_seed
from pavlab.tasks.base import Problem, Task


@dataclass
class Candidate:
    """One sampled extension of a beam: the response so far, whether it ended, and its scores."""

    owner: int
    text: str
    finished: bool
    rank_score: float = float("-inf")
    value: float = float("-inf")
    final: float = float("-inf")


def kept_candidates(mine: list[Candidate], slots: int, key: str = "rank_score") -> list[Candidate]:
    """The top `slots` candidates of one problem by `key` (stable on ties: sampling order breaks them)."""
    return sorted(mine, key=lambda c: -getattr(c, key))[:slots]


def unique_candidates(mine: list[Candidate]) -> list[Candidate]:
    """The first candidate of each distinct text (same prefix, same new step)."""
    return list({c.text: c for c in reversed(mine)}.values())[::-1]


def beam_search(task: Task, policy: PolicyBackend, scorer: StepScorer, problems: list[Problem], width: int,
                params: SamplingParams, candidates: int = 3, max_depth: int = 10, dedup: bool = False) -> SearchBatch:
    """Beam search with beam width `width` (= N) and `candidates` (= C) next steps per beam.

    Depth d samples with seed `chunk_seed(params.seed, d)`, so a run is reproducible from `params.seed`.
    With `dedup`, duplicate candidates of a problem are dropped before ranking. A scorer that can
    reuse the previous depth's work (pavlab's verifiers keep their prefix activations) does so, and
    so does a policy backend that can (the HF backend keeps each beam's keys/values).
    """
    check_budget(width, candidates, max_depth)
    with reusing_prefixes(scorer), policy.reusing_prefixes():
        return _beam_search(task, policy, scorer, problems, width, params, candidates, max_depth, dedup)


def _beam_search(task: Task, policy: PolicyBackend, scorer: StepScorer, problems: list[Problem], width: int,
                 params: SamplingParams, candidates: int, max_depth: int, dedup: bool) -> SearchBatch:
    before = policy.meter.snapshot()
    prompts = [task.prompt(problem) for problem in problems]
    beams: list[list[str]] = [[""] * width for _ in problems]
    done: list[list[Candidate]] = [[] for _ in problems]
    tokens = [0] * len(problems)
    samples = [0] * len(problems)
    distinct: list[list[int]] = [[] for _ in problems]
    differs: list[list[bool]] = [[] for _ in problems]
    for depth in range(max_depth):
        owners = [index for index, alive in enumerate(beams) for _ in alive]
        if not owners:
            break
        prefixes = [prefix for alive in beams for prefix in alive]
        step_seed = None if params.seed is None else chunk_seed(params.seed, depth)
        step_params = replace(params, stop="step", seed=step_seed)
        groups = policy.sample([prompts[i] for i in owners], prefixes, candidates, step_params)
        pool: list[Candidate] = []
        for owner, prefix, group in zip(owners, prefixes, groups, strict=True):
            for completion in group:
                tokens[owner] += len(completion.token_ids)
                samples[owner] += 1
                pool.append(Candidate(owner, prefix + completion.text, completion.finished))
        scored = scorer.score([problems[c.owner] for c in pool], [task.split_steps(c.text) for c in pool],
                              policy.meter)
        for candidate, scores in zip(pool, scored, strict=True):
            candidate.rank_score = float(scores.steps[-1]) if len(scores.steps) else float("-inf")
            candidate.value = float(scores.values[-1]) if len(scores.values) else float("-inf")
            candidate.final = scores.final
        last_depth = depth == max_depth - 1
        by_owner: dict[int, list[Candidate]] = {}
        for candidate in pool:
            by_owner.setdefault(candidate.owner, []).append(candidate)
        for index, mine in by_owner.items():
            mine = unique_candidates(mine) if dedup else mine
            slots = width - len(done[index])
            kept = kept_candidates(mine, slots)
            distinct[index].append(len({c.text for c in kept}))
            differs[index].append({id(c) for c in kept} != {id(c) for c in kept_candidates(mine, slots, "value")})
            beams[index] = [c.text for c in kept if not (c.finished or last_depth)]
            done[index].extend(c for c in kept if c.finished or last_depth)
        alive = [(index, text) for index, texts in enumerate(beams) for text in texts]
        retain_prefixes(scorer, [problems[index] for index, _ in alive], [task.split_steps(text) for _, text in alive])
        policy.retain_prefixes([prompts[index] for index, _ in alive], [text for _, text in alive])
    outcomes = []
    for index, problem in enumerate(problems):
        finals = [c.final for c in done[index]]
        outcome = make_outcome(task, problem, [c.text for c in done[index]], finals, pick_highest(finals),
                               tokens[index], samples[index])
        outcome.diagnostics = {"distinct_per_depth": distinct[index], "depths": len(differs[index]),
                               "depths_q_differs": sum(differs[index])}
        outcomes.append(outcome)
    return SearchBatch(outcomes, policy.meter.since(before))
