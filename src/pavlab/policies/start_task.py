"""The task a testbed start policy was trained on, read from its testbed.json.

Why: a testbed policy solves only the problems it was trained on. The practised-habit start takes 6-7
numbers where the subset-sum task's defaults take 5-6; from it, `pavlab study rl-countdown --policy DIR`
without `--task.min_take 6 --task.max_take 7` trained and measured on problems the start never saw.
Configs that pair a start `policy` with a `task` derive from `StartTaskConfig`: every task field the user
leaves unset (the task's name included) comes from the start's record; what the user sets wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import model_validator

from pavlab.config import Config
from pavlab.io import read_json
from pavlab.tasks.registry import TaskConfig, get_task

TESTBED_FILE = "testbed.json"


def start_task(task: TaskConfig, policy: str | Path | None) -> TaskConfig:
    """`task` with each field it leaves unset that changes the problems taken from `policy`'s testbed.json;
    `task` itself when the folder records no testbed (an RL checkpoint, a hub model, a `mu:`/`solver:`
    spec), names another task the user chose, or gives the same problems (so recorded configs stay as they
    were: resuming compares them)."""
    record_file = Path(str(policy)) / TESTBED_FILE if policy else None
    if record_file is None or not record_file.is_file():
        return task
    record: dict[str, Any] = read_json(record_file)
    name = task.name if "name" in task.model_fields_set else record.get("task", task.name)
    if name != record.get("task"):
        return task
    given = {key: getattr(task, key) for key in task.model_fields_set if key != "name"}
    resolved = get_task(TaskConfig(name=name, **given)).options()  # None options mean the task's defaults
    recorded = {key: value for key, value in record.get("task_options", {}).items()
                if key in TaskConfig.model_fields and key not in given and resolved.get(key) != value}
    if name == task.name and not recorded:
        return task
    return TaskConfig(name=name, **given, **recorded)


class StartTaskConfig(Config):
    """Base of the configs with a start `policy` and a `task` (see the module docstring)."""

    @model_validator(mode="after")
    def _task_of_start(self) -> StartTaskConfig:
        task = start_task(self.task, self.policy)  # type: ignore[attr-defined]
        if task is not self.task:  # type: ignore[attr-defined]
            self.task = task  # re-validates once; the filled task then has nothing left unset to fill
        return self
