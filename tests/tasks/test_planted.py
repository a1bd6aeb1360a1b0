import itertools
import random

import pytest

from pavlab.errors import PavlabError
from pavlab.tasks.base import Problem
from pavlab.tasks.planted import (
    HORIZON,
    SIGMA,
    SIGMA_SEED,
    TOKENS,
    PlantedTask,
    exact_q_value,
    exact_q_values,
    make_problem,
    match_states,
    prover_probs,
    sample_prover_step,
    split_of_keys,
    target_of,
    transitions,
)

TASK = PlantedTask()


def planted(target: tuple[int, ...]) -> Problem:
    """A problem with a chosen y* (keys = sigma^-1 of it)."""
    inverse = {value: key for key, value in enumerate(SIGMA, start=1)}
    return make_problem(tuple(inverse[t] for t in target))


def response(tokens: list[object]) -> str:
    return "".join(f"{t}\n" for t in tokens)


def test_sigma_is_the_documented_seeded_permutation():
    shuffled = list(range(1, 15))
    random.Random(SIGMA_SEED).shuffle(shuffled)
    assert SIGMA == tuple(shuffled)
    assert sorted(SIGMA) == list(TOKENS)


def test_problems_are_seeded_disjoint_and_answer_follows_from_keys():
    train = TASK.problems("train", 300, seed=1)
    assert train == TASK.problems("train", 300, seed=1)
    assert train != TASK.problems("train", 300, seed=2)
    val, test = TASK.problems("val", 200), TASK.problems("test", 200)
    assert len({p.id for p in train}) == 300
    assert not ({p.id for p in train} & {p.id for p in val}) and not ({p.id for p in val} & {p.id for p in test})
    for problem in val:
        keys = tuple(problem.meta["keys"])
        assert split_of_keys(keys) == "val"
        assert problem.answer.split() == [str(SIGMA[k - 1]) for k in keys]
        assert TASK.problem_from_prompt(TASK.prompt(problem)) == problem


def test_unknown_split_and_bad_prompt_raise():
    with pytest.raises(PavlabError):
        TASK.problems("dev", 3)
    with pytest.raises(PavlabError):
        TASK.problem_from_prompt("1 2 3 99 4")


def test_rex_needs_a_contiguous_match_within_the_horizon():
    problem = planted((3, 5, 3, 5, 7))
    assert TASK.is_correct(response([3, 5, 3, 5, 3, 5, 7]), problem)  # needs KMP fallback
    assert TASK.is_correct(response([" 3", "5 ", 3, 5, 7]), problem)
    assert not TASK.is_correct(response([3, 5, "x", 3, 5, 7]), problem)
    assert not TASK.is_correct(response([3, 5, 3, "05", 7]), problem)
    assert not TASK.is_correct(response([1, 1, 1, 1, 1, 1, 3, 5, 3, 5, 7]), problem)  # ends past step 10
    assert TASK.extract_answer(response([3, 5, "x"])) == "3 5 x"
    assert TASK.extract_answer("") is None


def test_rex_never_raises_on_garbage():
    rng = random.Random(0)
    alphabet = "0123456789\n \t\\{}x-é\x00"
    problem = TASK.problems("test", 1)[0]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert TASK.is_correct(text, problem) in (True, False)
    assert not TASK.is_correct("1\n2\n", Problem(id="x", question="q", answer="not planted"))


def _naive_state(target: tuple[int, ...], seq: list[int]) -> int:
    if any(tuple(seq[i:i + len(target)]) == target for i in range(len(seq))):
        return len(target)
    return max(k for k in range(len(target)) if k == 0 or tuple(seq[-k:]) == target[:k])


def _brute_force_value(target: tuple[int, ...], prefix: list[int], steps_left: int, gamma: float) -> float:
    """Enumerate every continuation, weighting by mu_gamma (states from the naive definition)."""
    total = 0.0
    for continuation in itertools.product(TOKENS, repeat=steps_left):
        seq, prob = list(prefix), 1.0
        for token in continuation:
            prob *= prover_probs(target, _naive_state(target, seq), gamma)[token - 1]
            seq.append(token)
        total += prob * (_naive_state(target, seq) == len(target))
    return total


@pytest.mark.parametrize(("target", "prefix"), [
    ((3, 5, 3, 5, 7), [9, 9, 9, 3, 5, 3, 5]),     # overlapping target: 3 5 3 5 -> fallback on a wrong token
    ((2, 2, 2, 2, 4), [1, 1, 1, 2, 2, 2, 2]),
    ((1, 2, 3, 4, 5), [7, 7, 7, 7, 1, 2, 3]),
])
def test_exact_q_value_matches_brute_force_enumeration(target, prefix):
    problem = planted(target)
    for gamma in (1.0, 5.0):
        expected = _brute_force_value(target, prefix, HORIZON - len(prefix), gamma)
        assert exact_q_value(problem, [str(t) for t in prefix], gamma) == pytest.approx(expected, abs=1e-12)


def test_exact_q_values_per_prefix_and_edge_cases():
    problem = planted((1, 2, 3, 4, 5))
    steps = ["1", "2", "x", "1", "2", "3", "4", "5", "9", "9", "9"]
    values = exact_q_values(problem, steps, 10.0)
    assert len(values) == len(steps) + 1
    assert values == pytest.approx([exact_q_value(problem, steps[:h], 10.0) for h in range(len(steps) + 1)])
    assert values[1] > values[0] and values[3] < values[2]   # a right token is progress, a wrong one is not
    assert values[8:] == [1.0, 1.0, 1.0, 1.0]                # matched: value 1, even past the horizon
    assert exact_q_value(problem, ["9"] * 6, 10.0) == 0.0    # 4 steps left cannot fit 5 tokens
    with pytest.raises(PavlabError):
        exact_q_value(problem, [], 0.0)


def test_stronger_prover_has_higher_value():
    problem = planted((4, 4, 8, 1, 2))
    gammas = [1.0, 2.0, 5.0, 10.0, 20.0]
    values = [exact_q_value(problem, [], g) for g in gammas]
    assert values == sorted(values) and values[0] < 0.01 < values[-1] < 1.0


def test_asking_for_more_problems_than_a_split_holds_is_an_error():
    with pytest.raises(PavlabError, match="split has about"):
        TASK.problems("val", 10**6)


def test_success_is_judged_within_the_configured_horizon():
    problem = planted((3, 5, 3, 5, 7))
    late = response([1] * 20 + [3, 5, 3, 5, 7])  # y* ends at step 25
    assert not TASK.is_correct(late, problem)
    assert PlantedTask(25).is_correct(late, problem) and PlantedTask(30).is_correct(late, problem)
    assert not PlantedTask(24).is_correct(late, problem)
    assert PlantedTask(12).extract_answer(response(range(1, 15))) == " ".join(map(str, range(1, 13)))
    assert PlantedTask().options() == {} and PlantedTask(30).options() == {"horizon": 30}


@pytest.mark.parametrize("horizon", [4, 0, 10.5, "30", True])
def test_a_horizon_that_cannot_hold_y_star_is_a_one_line_error(horizon):
    with pytest.raises(PavlabError, match="planted horizon must be an integer >= 5") as error:
        PlantedTask(horizon)
    assert error.value.field == "task.horizon" and "\n" not in str(error.value)


@pytest.mark.parametrize(("gamma", "prefix"), [(5.0, []), (30.0, []), (100.0, ["9"] * 20), (10.0, ["1", "2"])])
def test_exact_values_at_horizon_30_match_monte_carlo_of_mu_gamma(gamma, prefix):
    """mu_gamma rolled out token by token to step 30 succeeds as often as the exact value says."""
    task, problem, rng, n = PlantedTask(30), planted((4, 4, 8, 1, 2)), random.Random(0), 2000
    target, table = target_of(problem), transitions(target_of(problem))
    hits = 0
    for _ in range(n):
        tokens, state = [int(step) for step in prefix], match_states(target, [int(step) for step in prefix])[-1]
        while len(tokens) < task.horizon:
            token = sample_prover_step(target, state, gamma, rng)[0]
            tokens.append(token)
            state = table[state][token]
        hits += task.is_correct(response(tokens), problem)
    exact = task.q_values(problem, prefix, gamma)[-1]
    assert exact == exact_q_value(problem, prefix, gamma, horizon=30) != exact_q_value(problem, prefix, gamma)
    assert abs(hits / n - exact) < 4 * (exact * (1 - exact) / n) ** 0.5 + 1e-9

