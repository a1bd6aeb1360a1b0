"""Tasks: problems, prompts, step splitting and the outcome check; `get_task` builds one by name."""

from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TASK_DESCRIPTIONS, TaskConfig, get_task

__all__ = ["TASK_DESCRIPTIONS", "Problem", "Task", "TaskConfig", "get_task"]
