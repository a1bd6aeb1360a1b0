"""`pavlab search`: one search method over a problem split, in resumable shards, plus a summary.

Output in the run folder `OUT`: `search_run.json` (the config), `results/shard-NNNNN.jsonl` (one
row per problem: explored responses, their scores, the pick, correctness and compute) and
`summary.json` (accuracy, pass@N of the explored sets, mean compute per problem). Chunk i
always holds the same problems and searches with `chunk_seed(seed, i)`, so a killed run resumes
exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from pavlab.errors import PavlabError
from pavlab.io import write_json
from pavlab.policies.base import GenerationConfig, PolicyBackend, SamplingParams
from pavlab.policies.prover_spec import SearchProverSpec
from pavlab.policies.registry import build_policy
from pavlab.policies.start_task import StartTaskConfig
from pavlab.progress import progress_bar
from pavlab.provers.rank import resolve_prover
from pavlab.runs import prepare_run
from pavlab.search.beam import beam_search
from pavlab.search.best_of_n import iid_search
from pavlab.search.dvts import dvts_search
from pavlab.search.outcome import SearchBatch
from pavlab.search.scorers import Aggregate, ScoreName, StepScorer, build_scorer
from pavlab.shards import ShardedJsonl, chunk_seed
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.verifiers.step_scores import ProcessVerifier

Method = Literal["best_of_n", "majority", "weighted_vote", "beam", "dvts"]


TREE_METHODS = ("beam", "dvts")
SHARED_COMPUTE = ("prompt_tokens", "forward_passes", "verifier_tokens", "verifier_passes")
SUMMARY_FILE = "summary.json"


class SearchConfig(StartTaskConfig):
    task: TaskConfig = TaskConfig()
    policy: str = Field(..., description="checkpoint folder, 'smollm2', 'mu:GAMMA'")
    verifier: Path | None = Field(None, description="Q^pi verifier folder, or a third-party PRM: hf-prm:DIR, or a "
                                                "folder or file with a prm.json (not needed for majority or oracle)")
    prover: SearchProverSpec = Field("bok:4", description="prover mu of A^mu: bok:K, model:DIR, or auto (ranked on "
                                                    "--labels)")
    labels: Path | None = Field(None, description="label run of the Q^pi verifier: what --prover auto ranks on")
    method: Method = Field("beam", description="best_of_n, majority, weighted_vote, beam (width N), or dvts (N/M "
                                                "greedy subtrees of width M = --candidates, picked by the verifier)")
    score: ScoreName = Field("q+a", description="step score: q (Q^pi), a (A^mu), q+a (Q^pi + alpha A^mu), oracle")
    alpha: float = Field(0.5, description="weight of A^mu in q+a")
    aggregate: Aggregate = Field("last", description="best_of_n / weighted_vote: step scores -> response score")
    n: int = Field(16, gt=0, description="budget N: samples per problem, the beam width, or dvts' N (N/M subtrees)")
    candidates: int = Field(3, gt=0, description="beam: next steps sampled per beam state (C); dvts: subtree "
                                                 "width M (steps sampled per subtree and depth; N a multiple of M)")
    max_depth: int = Field(10, gt=0, description="beam / dvts: most steps per response")
    dedup: bool = Field(False, description="beam / dvts: identical candidates of a problem (subtree) count once")
    split: str = "test"
    problems: int | None = Field(100, gt=0, description="first N problems of the split (all if null)")
    generation: GenerationConfig = GenerationConfig()
    seed: int = 0
    chunk_problems: int = Field(16, gt=0, description="problems per resumable shard")
    device: str = "cpu"
    out: Path = Field(..., description="run folder")


def run_method(method: str, task: Task, policy: PolicyBackend, scorer: StepScorer | None, problems: list[Problem],
               n: int, params: SamplingParams, candidates: int = 3, max_depth: int = 10,
               how: str = "last", dedup: bool = False) -> SearchBatch:
    """Dispatch to beam search, DVTS (`candidates` = its subtree width M) or an i.i.d. method at budget `n`."""
    if method in TREE_METHODS:
        if scorer is None:
            raise PavlabError(f"{method} needs a step scorer", field="score")
        search = beam_search if method == "beam" else dvts_search
        return search(task, policy, scorer, problems, n, params, candidates, max_depth=max_depth, dedup=dedup)
    return iid_search(method, task, policy, problems, n, params, scorer, how)


def batch_rows(batch: SearchBatch) -> list[dict[str, Any]]:
    """One row per problem; costs shared by the batch (prefill, verifier) are split evenly across its problems."""
    share = {key: batch.compute[key] / len(batch.outcomes) for key in SHARED_COMPUTE}
    return [{**outcome.to_row(), **share} for outcome in batch.outcomes]


def search_batch(config: SearchConfig, task: Task, policy: PolicyBackend, scorer: StepScorer | None,
                 problems: list[Problem], seed: int) -> list[dict[str, Any]]:
    """Run the configured method on `problems` with sampling seed `seed`."""
    params = config.generation.params(seed=seed)
    batch = run_method(config.method, task, policy, scorer, problems, config.n, params, config.candidates,
                       config.max_depth, config.aggregate, config.dedup)
    return [{**row, "method": config.method, "n": config.n} for row in batch_rows(batch)]


def build_search_scorer(config: SearchConfig, task: Task, prover: str) -> StepScorer | None:
    """The scorer the method needs (None for majority vote); loads the verifier only when a score reads it."""
    if config.method == "majority":
        return None
    verifier = None
    if config.score != "oracle":
        if config.verifier is None:
            raise PavlabError(f"method '{config.method}' with score '{config.score}' needs --verifier DIR",
                              field="verifier")
        verifier = ProcessVerifier.load(config.verifier, prover, device=config.device)
    return build_scorer(config.score, task, verifier, config.alpha)


def summarize_search(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, pass@N of the explored sets and mean compute per problem, in one streamed pass over `rows`."""
    keys = ("correct", "pass_at_n", "generated_tokens", "samples", *SHARED_COMPUTE)
    totals = dict.fromkeys(keys, 0.0)
    count = 0
    for row in rows:
        count += 1
        for key in keys:
            totals[key] += float(row[key])
    if count == 0:
        return {"problems": 0}
    return {"problems": count, "accuracy": totals["correct"] / count, "pass_at_n": totals["pass_at_n"] / count,
            "mean_generated_tokens": totals["generated_tokens"] / count, "mean_samples": totals["samples"] / count,
            **{f"mean_{key}": totals[key] / count for key in SHARED_COMPUTE}}


def run_search(config: SearchConfig) -> Path:
    """Search every problem of the split (resuming finished shards); returns the path of `summary.json`.

    The summary holds the method and its settings, the prover `--prover auto` chose (`prover_choice`),
    accuracy, pass@N of the explored sets and mean compute per problem; the per-problem rows are the
    shards under `results/` next to it.
    """
    task = get_task(config.task)
    needs_prover = config.method != "majority" and config.score in ("a", "q+a")
    prover, reason = resolve_prover(config.prover, config.labels) if needs_prover else (config.prover, None)
    scorer = build_search_scorer(config, task, prover)
    run_dir = prepare_run(config.out, config, kind="search")
    policy = build_policy(config.policy, task, device=config.device)
    problems = task.problems(config.split, config.problems, seed=config.seed)
    chunks = [problems[i:i + config.chunk_problems] for i in range(0, len(problems), config.chunk_problems)]
    shards = ShardedJsonl(run_dir / "results")
    done = shards.finished()
    started = time.perf_counter()
    with progress_bar(f"{config.method} N={config.n} on {len(problems)} problems", total=len(chunks)) as advance:
        advance(len(done & set(range(len(chunks)))))
        for index, chunk in enumerate(chunks):
            if index not in done:
                shards.write(index, search_batch(config, task, policy, scorer, chunk, chunk_seed(config.seed, index)))
                advance(1)
    summary = {"method": config.method, "score": None if config.method == "majority" else config.score,
               "alpha": config.alpha, "prover": prover, "prover_choice": reason, "aggregate": config.aggregate,
               "n": config.n,
               "candidates": config.candidates if config.method in TREE_METHODS else None,
               **summarize_search(shards.rows()),
               "wall_seconds_this_run": round(time.perf_counter() - started, 2)}
    write_json(run_dir / SUMMARY_FILE, summary)
    return run_dir / SUMMARY_FILE
