from pathlib import Path

import pytest

from pavlab.io import write_json
from pavlab.labeling.run import LabelConfig
from pavlab.policies.start_task import TESTBED_FILE, start_task
from pavlab.policies.testbed import shipped_testbed
from pavlab.rl.config import RLConfig
from pavlab.studies.rl_countdown import CountdownRLStudyConfig
from pavlab.tasks.registry import TaskConfig

HABIT_OPTIONS = {"n_numbers": 8, "max_number": 20, "min_take": 6, "max_take": 7}


@pytest.fixture
def habit_start(tmp_path: Path) -> Path:
    """A start folder whose testbed.json records a subset-sum task with non-default takes."""
    write_json(tmp_path / TESTBED_FILE, {"task": "subset_sum", "task_options": HABIT_OPTIONS})
    return tmp_path


def test_unset_options_come_from_the_start(habit_start: Path) -> None:
    task = start_task(TaskConfig(name="subset_sum"), habit_start)
    assert (task.name, task.min_take, task.max_take) == ("subset_sum", 6, 7)
    # so a study or an RL run from that start trains on the problems the start was trained on
    study = CountdownRLStudyConfig(out="study", verifier="pav", policy=habit_start)
    run = RLConfig(policy=str(habit_start), out="run")
    assert (study.task.min_take, study.task.max_take) == (run.task.min_take, run.task.max_take) == (6, 7)
    assert run.task.name == "subset_sum"  # the name too, when left unset (RLConfig's default is countdown)
    # the same config as with the options spelled out: a study started either way resumes the other way
    spelled = CountdownRLStudyConfig(out="study", verifier="pav", policy=habit_start,
                                     task={"name": "subset_sum", "min_take": 6, "max_take": 7})
    assert study.task == spelled.task


def test_what_the_user_sets_wins(habit_start: Path) -> None:
    task = start_task(TaskConfig(name="subset_sum", min_take=5), habit_start)
    assert (task.min_take, task.max_take) == (5, 7)
    assert start_task(TaskConfig(name="countdown"), habit_start) == TaskConfig(name="countdown")
    run = RLConfig(policy=str(habit_start), out="run", task={"name": "subset_sum", "max_take": 6, "min_take": 5})
    assert (run.task.min_take, run.task.max_take) == (5, 6)


def test_no_record_or_the_same_problems_leave_the_task_as_given(habit_start: Path, tmp_path: Path) -> None:
    task = TaskConfig(name="subset_sum")
    assert start_task(task, tmp_path / "no-such-folder") is task
    assert start_task(task, "solver:0.3") is task
    assert start_task(task, None) is task
    assert LabelConfig(policy="solver:0.3", out="labels", task=task).task == task
    # the shipped default start records the task's defaults: configs (and resume checks) stay as they were
    assert start_task(task, shipped_testbed("subset_sum")) is task


def test_a_filled_config_round_trips(habit_start: Path) -> None:
    """A run's recorded config reloads to the same config (what resuming compares)."""
    run = RLConfig(policy=str(habit_start), out="run")
    assert RLConfig.model_validate(run.model_dump(mode="json")) == run
