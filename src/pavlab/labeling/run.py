"""`pavlab label`: seed rollouts + Monte Carlo value labels, written as resumable shards.

Output: `OUT/labels/shard-NNNNN.jsonl` (one row per seed response, see `pavlab.labeling.format`) and
`OUT/label_config.json`. Chunk i always covers the same problems with the same seed, so a
killed run resumes with no duplicated and no missing rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from pavlab.distributed import run_chunks
from pavlab.labeling.format import label_row, label_shards
from pavlab.labeling.seeding import first_pit_seeds, label_all_prefixes, sample_seeds
from pavlab.policies.base import GenerationConfig, PolicyBackend
from pavlab.policies.registry import build_policy
from pavlab.policies.start_task import StartTaskConfig
from pavlab.progress import progress_bar
from pavlab.runs import prepare_run
from pavlab.shards import chunk_seed
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig, get_task


class LabelConfig(StartTaskConfig):
    task: TaskConfig = TaskConfig()
    policy: str = Field(..., description="base policy pi that writes the seed responses")
    rollout_policy: str | None = Field(None, description="policy for the MC continuations (a prover); default pi")
    split: str = "train"
    problems: int | None = Field(256, gt=0)
    n_cov: int = Field(4, gt=0, description="seed responses per problem")
    n_mc: int = Field(16, gt=0, description="continuations per prefix")
    seeding: Literal["random", "first_pit"] = "random"
    pit_seeds: int = Field(2, ge=0, description="first-pit seeds per problem")
    pit_min_value: float = Field(0.5, ge=0.0, le=1.0, description="a state this good can start a pit seed")
    generation: GenerationConfig = GenerationConfig()
    seed: int = 0
    chunk_problems: int = Field(32, gt=0, description="problems per resumable shard")
    device: str = "cpu"
    workers: int = Field(0, ge=0, description="0: label in this process; N >= 1: N Ray actors, one policy each")
    out: Path = Field(..., description="run folder")


@dataclass
class LabelWorker:
    """What one replica holds: the task, the seed policy pi and the rollout policy (a prover, or pi)."""

    task: Task
    policy: PolicyBackend
    rollout: PolicyBackend


def build_label_worker(config: LabelConfig) -> LabelWorker:
    task = get_task(config.task)
    policy = build_policy(config.policy, task, device=config.device)
    rollout = build_policy(config.rollout_policy, task, config.device) if config.rollout_policy else policy
    return LabelWorker(task, policy, rollout)


def label_chunk(config: LabelConfig, worker: LabelWorker, index: int, chunk: list[Problem]) -> list[dict[str, Any]]:
    """Seeds and labels of one chunk of problems; depends only on (config, index), never on other chunks."""
    task, params = worker.task, config.generation.params(seed=chunk_seed(config.seed, index))
    seeds = sample_seeds(task, worker.policy, chunk, config.n_cov, params)
    label_all_prefixes(task, worker.rollout, seeds, config.n_mc, params)
    if config.seeding == "first_pit" and config.pit_seeds:
        seeds += first_pit_seeds(task, worker.policy, worker.rollout, seeds, config.pit_seeds, config.pit_min_value,
                                 config.n_mc, params)
    prompts = {p.id: task.prompt(p) for p in chunk}
    per_problem: dict[str, int] = {}
    rows = []
    for seed in seeds:
        per_problem[seed.problem.id] = per_problem.get(seed.problem.id, -1) + 1
        rows.append(label_row(seed, prompts[seed.problem.id], policy=config.rollout_policy or config.policy,
                              seed_policy=config.policy, run_seed=config.seed,
                              seed_index=per_problem[seed.problem.id]))
    return rows


def run_labeling(config: LabelConfig) -> Path:
    task = get_task(config.task)
    run_dir = prepare_run(config.out, config, kind="label")
    problems = task.problems(config.split, config.problems, seed=config.seed)
    chunks = [problems[i:i + config.chunk_problems] for i in range(0, len(problems), config.chunk_problems)]
    shards = label_shards(run_dir)
    done = shards.finished()
    with progress_bar(f"labeling {len(problems)} problems (n_cov={config.n_cov}, n_mc={config.n_mc})",
                      total=len(chunks)) as advance:
        advance(len(done & set(range(len(chunks)))))
        run_chunks(chunks, partial(build_label_worker, config), partial(label_chunk, config), shards,
                   workers=config.workers, on_chunk_done=lambda _: advance(1))
    return run_dir
