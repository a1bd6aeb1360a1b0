"""The testbed check (issue 15): is the policy in the paper's regime, on the test split?

Why: a search or RL study can only show the paper's effects if the base policy leaves room for
them: pass@1 well above 0 and far below pass@N, several steps per response, several legal
choices per state, and wrong choices that are dead ends (by the exact oracle) rather than
format slips. This samples the policy on the test split and writes `testbed.json` with those
figures, so the regime is measured, not assumed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import Field

from pavlab.io import read_jsonl, write_json
from pavlab.metrics import summarize_samples
from pavlab.policies.base import GenerationConfig
from pavlab.policies.start_task import StartTaskConfig
from pavlab.sampling import SampleConfig, run_sampling
from pavlab.tasks.base import parse_numbers_question
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.tasks.subset_sum import SubsetSumTask, apply_takes, reachable

# the regime figures (not the policy's training record, `policies.testbed.TESTBED_FILE`, also testbed.json)
TESTBED_STUDY_FILE = "testbed.json"


class TestbedStudyConfig(StartTaskConfig):
    __test__ = False  # not a pytest test class despite its name

    task: TaskConfig = TaskConfig(name="subset_sum")
    policy: str = Field(..., description="the testbed policy checkpoint")
    problems: int = Field(1000, gt=0, description="test problems")
    n: int = Field(64, gt=0, description="samples per problem")
    generation: GenerationConfig = GenerationConfig()
    seed: int = 0
    workers: int = Field(0, ge=0, description="Ray actors for sampling (0: in process)")
    out: Path = Field(..., description="folder for samples.jsonl and testbed.json")


def first_errors(task: SubsetSumTask, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Share of sampled responses by how they end: correct, a valid step into a dead end, an invalid
    line (number not available, wrong need, malformed), or stopping early while alive."""
    counts: Counter[str] = Counter()
    legal_choices = []
    for row in rows:
        numbers, target = parse_numbers_question(row["prompt"])  # type: ignore[misc]
        kind = "correct" if row["correct"] else "stopped_alive"
        before: tuple[tuple[int, ...], int] | None = apply_takes(numbers, target, [])
        for step in row["steps"]:
            left, need = before  # type: ignore[misc]
            legal_choices.append(sum(x <= need for x in left))
            after = apply_takes(left, need, [step])
            if after is None:
                kind = "invalid_line"
                break
            if not reachable(*after):
                kind = "dead_end_step"
                break
            before = after
        counts[kind] += 1
    total = sum(counts.values())
    return {**{f"share_{k}": counts[k] / total for k in ("correct", "dead_end_step", "invalid_line",
                                                          "stopped_alive")},
            "mean_legal_choices": sum(legal_choices) / max(1, len(legal_choices))}


def run_testbed_study(config: TestbedStudyConfig) -> Path:
    """Sample the policy on the test split and write the regime figures to `OUT/testbed.json` (returned)."""
    task = get_task(config.task)
    samples = run_sampling(SampleConfig(task=config.task, policy=config.policy, split="test",
                                        problems=config.problems, n=config.n, generation=config.generation,
                                        seed=config.seed, workers=config.workers, out=config.out / "samples.jsonl"))
    rows = read_jsonl(samples)
    summary = summarize_samples(rows)
    top = max(k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if f"pass@{k}" in summary)
    result: dict[str, Any] = {"task": task.name, "task_options": getattr(task, "options", dict)(),
                              "policy": config.policy, "problems": summary["problems"],
                              "samples_per_problem": summary["samples_per_problem"], "pass@1": summary["pass@1"],
                              f"pass@{top}": summary[f"pass@{top}"], "mean_steps": summary.get("mean_steps"),
                              "mean_generated_tokens": summary["mean_generated_tokens"], "pass_at_k": {
                                  k: v for k, v in summary.items() if k.startswith("pass@")}}
    if isinstance(task, SubsetSumTask):
        result["endings"] = first_errors(task, rows)
    write_json(config.out / TESTBED_STUDY_FILE, result)
    return config.out / TESTBED_STUDY_FILE
