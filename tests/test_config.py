import pytest
from pydantic import Field

from pavlab.config import Config, describe_fields, load_config, parse_overrides
from pavlab.errors import PavlabError


class Inner(Config):
    lr: float = 1e-3
    steps: int = 10


class Outer(Config):
    name: str = "x"
    n: int = Field(4, gt=0)
    inner: Inner = Inner()


def test_parse_overrides_forms():
    assert parse_overrides(["--n", "3", "--inner.lr=0.5", "--flag"]) == {"n": 3, "inner": {"lr": 0.5}, "flag": True}


def test_yaml_then_cli_override(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: a\ninner:\n  steps: 7\n")
    cfg = load_config(Outer, recipe, ["--inner.lr", "0.1"])
    assert (cfg.name, cfg.inner.steps, cfg.inner.lr) == ("a", 7, 0.1)


def test_sectioned_recipe_shares_top_level_fields(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: shared\nother_stage:\n  foo: 1\nmine:\n  n: 9\n")
    cfg = load_config(Outer, recipe, [], section="mine")
    assert (cfg.name, cfg.n) == ("shared", 9)


def test_unknown_field_names_the_field(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("inner:\n  lrr: 1\n")
    with pytest.raises(PavlabError, match=r"r.yaml.*inner.lrr.*unknown field"):
        load_config(Outer, recipe)


def test_wrong_type_and_bad_yaml(tmp_path):
    with pytest.raises(PavlabError, match="field 'n'"):
        load_config(Outer, None, ["--n", "-1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(PavlabError, match="bad.yaml"):
        load_config(Outer, bad)


def test_bare_section_value_combines_with_nested_overrides():
    assert parse_overrides(["--task", "countdown", "--task.max_number", "10"]) == {
        "task": {"name": "countdown", "max_number": 10}}


def test_help_lists_a_nested_field_default_from_the_parent_default():
    """`pavlab study rl-countdown --help` printed TaskConfig's own default task, not the study's."""
    class Inner(Config):
        name: str = "countdown"
        size: int

    class Outer(Config):
        inner: Inner = Inner(name="subset_sum", size=8)
        bare: Inner | None = None

    lines = describe_fields(Outer)
    assert "--inner.name (str, 'subset_sum')" in lines
    assert "--inner.size (int, 8)" in lines
    assert describe_fields(Inner) == ["--name (str, 'countdown')", "--size (int, required)"]


def test_a_partial_nested_override_keeps_the_parent_default():
    """`study rl-countdown --task.min_take 6` silently ran countdown: the override replaced the study's task."""
    class Task(Config):
        name: str = "countdown"
        size: int = 4
        take: int = 5

    class Study(Config):
        task: Task = Task(name="subset_sum")
        sized: Task = Task(name="subset_sum", size=8)

    assert load_config(Study, None, ["--task.take", "6"]).task == Task(name="subset_sum", take=6)
    assert load_config(Study, None, ["--task.name", "countdown"]).task == Task()
    assert load_config(Study, None, ["--sized.take", "6"]).sized == Task(name="subset_sum", size=8, take=6)
    assert load_config(Study, None, []) == Study()
