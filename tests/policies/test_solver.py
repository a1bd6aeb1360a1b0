import pytest

from pavlab.errors import PavlabError
from pavlab.labeling.mc import PrefixRequest, estimate_q_values
from pavlab.policies.base import SamplingParams
from pavlab.policies.registry import build_policy
from pavlab.policies.solver import SolverPolicy
from pavlab.tasks.planted import PlantedTask
from pavlab.tasks.subset_sum import SubsetSumTask, apply_takes, solver_success

TASK = SubsetSumTask(min_take=6, max_take=7)
PROBLEM = TASK.problems("test", 1)[0]
PROMPT = TASK.prompt(PROBLEM)
NUMBERS, TARGET = PROBLEM.meta["numbers"], PROBLEM.meta["target"]


def first_line() -> str:
    """A first step of PROBLEM: the smallest number, taken by hand."""
    taken = min(NUMBERS)
    rest = " ".join(str(x) for x in NUMBERS if x != taken)
    return f"{taken} -> {TARGET - taken} | {rest}"


def test_monte_carlo_values_of_the_solver_policy_match_its_exact_values():
    policy = build_policy("solver:0.3", TASK)
    assert isinstance(policy, SolverPolicy)
    requests = [PrefixRequest(PROBLEM, ()), PrefixRequest(PROBLEM, (first_line(),))]
    estimates = estimate_q_values(TASK, policy, requests, 4000, SamplingParams(seed=0))
    for request in requests:
        left, need = apply_takes(NUMBERS, TARGET, list(request.steps))
        exact = solver_success(left, need, 0.3)
        q_hat = estimates[request].q_hat
        assert 0 < exact < 1
        assert abs(q_hat - exact) < 4 * (exact * (1 - exact) / 4000) ** 0.5 + 1e-9, (q_hat, exact)


def test_continuations_are_valid_seeded_and_counted():
    policy = SolverPolicy(TASK, good_move_prob=1.0)
    params = SamplingParams(seed=3)
    first = policy.sample([PROMPT, PROMPT], ["", first_line() + "\n"], 3, params)
    again = SolverPolicy(TASK, good_move_prob=1.0).sample([PROMPT, PROMPT], ["", first_line() + "\n"], 3, params)
    assert [[c.text for c in g] for g in first] == [[c.text for c in g] for g in again]
    # a perfect solver from the bare prompt always ends correct, writing annotated lines
    assert all(TASK.is_correct(c.text, PROBLEM) and c.finish_reason == "eos" for c in first[0])
    assert all("|" in line for c in first[0] for line in TASK.split_steps(c.text))
    assert policy.meter.samples == 6
    assert policy.meter.generated_tokens == sum(len(TASK.split_steps(c.text)) for g in first for c in g)


def test_step_mode_gives_one_line_and_a_broken_prefix_ends():
    policy = SolverPolicy(TASK, good_move_prob=0.5)
    [group] = policy.sample([PROMPT], [""], 5, SamplingParams(seed=0, stop="step"))
    for completion in group:
        assert completion.finish_reason == "step" and completion.text.endswith("\n")
        assert len(TASK.split_steps(completion.text)) == 1
        assert apply_takes(NUMBERS, TARGET, TASK.split_steps(completion.text)) is not None
    [[ended]] = policy.sample([PROMPT], ["999 -> 1\n"], 1, SamplingParams(seed=0))
    assert ended.text == "" and ended.finish_reason == "eos"
    [[short]] = policy.sample([PROMPT], [""], 1, SamplingParams(seed=0, max_new_tokens=2))
    assert len(TASK.split_steps(short.text)) == 2 and short.finish_reason == "length"


def test_bad_uses_get_one_line_errors():
    with pytest.raises(PavlabError, match="only works on the subset_sum task"):
        SolverPolicy(PlantedTask(), 0.3)
    with pytest.raises(PavlabError, match="temperature and top_p must be 1"):
        SolverPolicy(TASK, 0.3).sample([PROMPT], [""], 1, SamplingParams(temperature=0.5))
    with pytest.raises(PavlabError, match="not a subset_sum prompt"):
        SolverPolicy(TASK, 0.3).sample(["hello"], [""], 1, SamplingParams())
    with pytest.raises(PavlabError, match="bad prover spec"):
        build_policy("solver:2", TASK)
