import json

import pytest

from pavlab.config import Config, load_config
from pavlab.errors import PavlabError
from pavlab.tasks.countdown import CountdownTask
from pavlab.tasks.jsonl_task import JsonlTask
from pavlab.tasks.planted import PlantedTask
from pavlab.tasks.registry import TASK_DESCRIPTIONS, TaskConfig, get_task


class Holder(Config):
    task: TaskConfig = TaskConfig()


def test_bare_name_validates_as_a_config():
    assert load_config(Holder, overrides=["--task", "planted"]).task.name == "planted"
    assert isinstance(get_task("planted"), PlantedTask)
    assert TaskConfig.model_validate("gsm8k") == TaskConfig(name="gsm8k")


def test_countdown_options_reach_the_task():
    task = get_task(load_config(Holder, overrides=["--task.n_numbers", "3", "--task.max_number", "10"]).task)
    assert isinstance(task, CountdownTask)
    assert all(len(p.meta["numbers"]) == 3 and max(p.meta["numbers"]) <= 10 for p in task.problems("test", 5))


def test_jsonl_config(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"problem": "q", "solution": "7"}) + "\n")
    config = TaskConfig(name="jsonl", path=str(path), question_field="problem", answer_field="solution",
                        grader="exact")
    task = get_task(config)
    assert isinstance(task, JsonlTask) and task.grader == "exact"
    assert task.problems("test")[0].answer == "7"


def test_unknown_names_and_fields_are_user_errors():
    with pytest.raises(PavlabError, match="known: countdown, subset_sum, planted, gsm8k, math500, jsonl"):
        get_task("chess")
    with pytest.raises(PavlabError, match="unknown field"):
        load_config(Holder, overrides=["--task.depth", "3"])
    with pytest.raises(PavlabError, match="task.grader"):
        load_config(Holder, overrides=["--task.grader", "fuzzy"])
    assert set(TASK_DESCRIPTIONS) == {"countdown", "subset_sum", "planted", "gsm8k", "math500", "jsonl"}


def test_planted_horizon_reaches_the_task_and_is_checked():
    config = load_config(Holder, overrides=["--task.name", "planted", "--task.horizon", "30"]).task
    assert get_task(config).horizon == 30 and get_task("planted").horizon == 10
    assert config.model_dump()["horizon"] == 30
    # unset, it is left out of the dump, so run records and cache keys written before the option still match
    assert "horizon" not in TaskConfig(name="planted").model_dump(mode="json")
    with pytest.raises(PavlabError, match="task.horizon"):
        load_config(Holder, overrides=["--task.name", "planted", "--task.horizon", "4"])
    with pytest.raises(PavlabError, match="planted-task option"):
        load_config(Holder, overrides=["--task.name", "countdown", "--task.horizon", "30"])
