"""The accuracy-vs-compute study of test-time search: ORM best-of-N vs Q^pi beam vs PAV beam.

Why: the paper's headline for search is that PAV beam search (rank by Q^pi + alpha * A^mu) beats
best-of-N with an ORM and beam search with Q^pi alone at every budget N. Every (arm, N, seed)
cell is searched once over the same problems and written as its own shard, so a killed study
resumes cell by cell. Output in OUT: `cells/` (one row per cell: accuracy, pass@N and mean
compute per problem), `search_study.json`, `search_study.csv` and `accuracy_vs_n.png`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pydantic import Field

from pavlab.config import Config
from pavlab.io import atomic_open, write_json
from pavlab.policies.base import SamplingParams
from pavlab.policies.registry import build_policy
from pavlab.progress import progress_bar
from pavlab.runs import prepare_run
from pavlab.sampling import GenerationConfig
from pavlab.search.run import batch_rows, run_method, summarize_search
from pavlab.search.scorers import build_scorer
from pavlab.shards import ShardedJsonl, chunk_seed
from pavlab.studies.plots import plot_seed_curves
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.verifiers.step_scores import ProcessVerifier

# arm -> (method, step score): the ORM is the Q^pi model reading the last state
ARMS: dict[str, tuple[str, str]] = {"orm_best_of_n": ("best_of_n", "q"), "q_beam": ("beam", "q"),
                                    "pav_beam": ("beam", "q+a")}


class SearchStudyConfig(Config):
    task: TaskConfig = TaskConfig()
    policy: str = Field(..., description="base policy pi")
    verifier: Path = Field(..., description="Q^pi verifier folder")
    prover: str = Field("bok:4", description="prover mu of A^mu: bok:K or model:DIR")
    alpha: float = Field(0.5, description="weight of A^mu in the PAV beam score")
    budgets: list[int] = Field([1, 2, 4, 8, 16, 32, 64, 128], min_length=1, description="values of N")
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    candidates: int = Field(3, gt=0, description="beam: next steps per beam state (C)")
    max_depth: int = Field(10, gt=0)
    split: str = "test"
    problems: int = Field(64, gt=0)
    generation: GenerationConfig = GenerationConfig()
    device: str = "cpu"
    out: Path = Field(..., description="study folder")


def study_cells(config: SearchStudyConfig) -> list[tuple[str, int, int]]:
    """(arm, N, seed) in a fixed order: the index of a cell is its shard number."""
    return [(arm, n, seed) for seed in config.seeds for n in sorted(set(config.budgets)) for arm in ARMS]


def run_search_study(config: SearchStudyConfig) -> dict[str, Any]:
    task = get_task(config.task)
    verifier = ProcessVerifier.load(config.verifier, config.prover)
    run_dir = prepare_run(config.out, config, kind="search_study")
    policy = build_policy(config.policy, task, device=config.device)
    problems = task.problems(config.split, config.problems, seed=0)
    scorers = {score: build_scorer(score, task, verifier, config.alpha) for score in ("q", "q+a")}
    shards = ShardedJsonl(run_dir / "cells")
    cells = study_cells(config)
    done = shards.finished()
    gen = config.generation
    with progress_bar(f"search study: {len(cells)} cells x {len(problems)} problems", total=len(cells)) as advance:
        advance(len(done & set(range(len(cells)))))
        for index, (arm, n, seed) in enumerate(cells):
            if index in done:
                continue
            method, score = ARMS[arm]
            params = SamplingParams(gen.temperature, gen.top_p, gen.max_new_tokens, seed=chunk_seed(seed, n))
            batch = run_method(method, task, policy, scorers[score], problems, n, params, config.candidates,
                               config.max_depth)
            shards.write(index, [{"arm": arm, "n": n, "seed": seed, **summarize_search(batch_rows(batch))}])
            advance(1)
    table = list(shards.rows())
    write_json(run_dir / "search_study.json", {"config": config.model_dump(mode="json"), "cells": table})
    with atomic_open(run_dir / "search_study.csv") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    budgets = sorted(set(config.budgets))
    curves = {arm: (budgets, [[next(c["accuracy"] for c in table if (c["arm"], c["n"], c["seed"]) == (arm, n, s))
                               for n in budgets] for s in config.seeds]) for arm in ARMS}
    plot_seed_curves(run_dir / "accuracy_vs_n.png", curves, xlabel="budget N (samples, or beam width)",
                     ylabel="accuracy", title=f"test-time search on {task.name} (alpha={config.alpha})")
    return {"cells": table, "figure": str(run_dir / "accuracy_vs_n.png")}
