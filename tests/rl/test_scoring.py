"""Where RL's prover values come from: the exact oracle ceiling on tasks with a prefix oracle, and exact
mu_gamma values at the planted task's horizon."""

from __future__ import annotations

import numpy as np
import pytest

from pavlab.errors import PavlabError
from pavlab.policies.base import ComputeMeter
from pavlab.rl.config import RLConfig
from pavlab.rl.scoring import build_prover
from pavlab.tasks.base import parse_numbers_question
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.tasks.subset_sum import good_takes


def _start(task, problem) -> tuple[tuple[int, ...], int]:
    numbers, target = parse_numbers_question(task.prompt(problem))
    return tuple(sorted(numbers)), target


def _exact_prover_setup(tmp_path, prover: str):
    """An RL config with an exact `prover` on subset sum, a problem whose first take can throw the win away, its
    start (numbers, target) and the prover's value function."""
    config = RLConfig(task=TaskConfig(name="subset_sum"), policy="unused", out=tmp_path, alpha=1.0, prover=prover)
    task = get_task(config.task)
    problem = next(p for p in task.problems("test", 20)
                   if len(good_takes(*_start(task, p))) < len(_start(task, p)[0]))
    values = build_prover(config, task, ComputeMeter())
    assert values is not None
    return task, problem, _start(task, problem), values


def test_oracle_prover_values_are_solvability_then_the_outcome(tmp_path):
    _, problem, (numbers, target), values = _exact_prover_setup(tmp_path, "oracle")
    left, need, steps = numbers, target, []
    while need:  # a solution, one good take at a time
        take = good_takes(left, need)[0]
        left, need = tuple(x for x in left if x != take), need - take
        steps.append(f"{take} -> {need} | {' '.join(map(str, left))}")
    np.testing.assert_array_equal(values([problem], [steps])[0], [1.0] * (len(steps) + 1))
    bad = next(x for x in numbers if x not in good_takes(numbers, target))
    # a first take that makes the target unreachable: the step's advantage is -1, and so is the outcome's value
    np.testing.assert_array_equal(values([problem], [[f"{bad} -> {target - bad}", *steps[1:]]])[0],
                                  [1.0] + [0.0] * len(steps))


def test_an_empty_response_keeps_the_prompts_value_so_its_ending_pays_the_shortfall(tmp_path):
    """Before, the empty response's one value was its outcome (0), so its reward carried no advantage and an RL
    run collapsed to empty responses; now it is the prompt's value and the reward charges alpha * (0 - 1)."""
    from pavlab.rl.rewards import response_token_rewards

    _, problem, _, values = _exact_prover_setup(tmp_path, "oracle")
    row = values([problem], [[]])[0]
    np.testing.assert_array_equal(row, [1.0])  # every problem is solvable from its prompt
    np.testing.assert_allclose(response_token_rewards("", [(0, 0)], "\n", 0.0, row, 3.0, terminal_value=0.0), [-3.0])


def test_oracle_prover_needs_a_task_with_an_oracle(tmp_path):
    config = RLConfig(task=TaskConfig(name="planted"), policy="unused", out=tmp_path, alpha=1.0, prover="oracle")
    with pytest.raises(PavlabError, match="exact prefix oracle"):
        build_prover(config, get_task(config.task), ComputeMeter())


def test_solver_prover_values_are_graded_exact_and_need_no_verifier(tmp_path):
    task, problem, (numbers, target), values = _exact_prover_setup(tmp_path, "solver:0.7")
    bad = next(x for x in numbers if x not in good_takes(numbers, target))
    good = good_takes(numbers, target)[0]
    steps = [f"{good} -> {target - good}", f"{bad} -> {target - good - bad}"]
    row = values([problem], [steps])[0]
    assert 0.0 < row[0] < 1.0 and row[0] == task.prefix_solver_value(problem, [], 0.7)
    assert row[1] == task.prefix_solver_value(problem, steps[:1], 0.7) and row[-1] == 0.0  # ends unfinished: Rex 0
    with pytest.raises(ValueError, match="subset_sum testbed's solver"):
        RLConfig(task=TaskConfig(name="countdown"), policy="unused", out=tmp_path, alpha=1.0, prover="solver:0.7")


def test_a_model_prover_is_read_on_its_own_without_a_q_pi_verifier(tmp_path):
    """PAV-RL reads only Q^mu: with `model:DIR` no Q^pi verifier is needed or loaded, and only its tokens count."""
    from pavlab.testing import char_tokenizer, tiny_llama
    from pavlab.verifiers.model import ValueModel
    from pavlab.verifiers.scoring import score_prefixes

    tokenizer = char_tokenizer()
    model = ValueModel.from_backbone(tiny_llama(tokenizer, 0, heads=2, tie=True), kind="prm", prover="bok:1").eval()
    model.save_pretrained(tmp_path / "q_mu", tokenizer=tokenizer)
    config = RLConfig(task=TaskConfig(name="subset_sum"), policy="unused", out=tmp_path, alpha=1.0,
                      prover=f"model:{tmp_path / 'q_mu'}")
    task = get_task(config.task)
    problems, steps = task.problems("test", 2), [["3 -> 9 | 1 2", "9 -> 0 | 1 2"], []]
    meter, one_pass = ComputeMeter(), ComputeMeter()
    values = build_prover(config, task, meter)
    assert values is not None and config.verifier is None
    expected = score_prefixes(model, tokenizer, [task.prompt(p) for p in problems], steps, meter=one_pass)
    for got, want in zip(values(problems, steps), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert meter.verifier_tokens == one_pass.verifier_tokens > 0


def test_procedural_prover_values_follow_the_configured_horizon(tmp_path):
    from pavlab.tasks.planted import exact_q_values

    config = RLConfig(task=TaskConfig(name="planted", horizon=30), policy="unused", out=tmp_path, alpha=3.0,
                      prover="mu:100")
    task = get_task(config.task)
    problem, steps = task.problems("test", 1)[0], ["1"] * 12
    values = build_prover(config, task, ComputeMeter())
    assert values is not None
    np.testing.assert_array_equal(values([problem], [steps])[0], exact_q_values(problem, steps, 100.0, horizon=30))
    # 18 steps left: mu_100 nearly always succeeds; at the default horizon of 10 the response is already over
    assert values([problem], [steps])[0][-1] > 0.95 and exact_q_values(problem, steps, 100.0)[-1] == 0.0
